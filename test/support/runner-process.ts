// `npm start` (node bin/start.js: the compiled runner) or `npx opsbook` (node bin/opsbook.js) as a
// separate process, with only what a fresh shell has, for tests that talk HTTP to it like curl would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closedPort } from './faults.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** The first PGlite start runs initdb (seconds, more on a busy machine): generous, it is not a budget. */
export const STARTUP_TIMEOUT_MS = 90_000;

export interface RunningProcess {
  child: ChildProcess;
  /** Temporary HOME and OPSBOOK_DATA_DIR live under this. */
  tmp: string;
  dataDir: string;
  port: number;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawn `<script> …args` in the repository, with a fresh HOME and data dir unless `tmp` is given: a .js
 * entry (bin/start.js, bin/opsbook.js) with plain node, as npm runs it; a .ts file with tsx.
 */
export async function spawnOpsbook(script: string, args: string[], extraEnv: Record<string, string> = {}, shared?: { tmp: string; dataDir: string }): Promise<RunningProcess> {
  const tmp = shared?.tmp ?? mkdtempSync(join(tmpdir(), 'opsbook-proc-'));
  const dataDir = shared?.dataDir ?? join(tmp, 'data');
  const port = await closedPort();
  const [cmd, argv] = script.endsWith('.js') ? [process.execPath, [script, ...args]] : [TSX, [script, ...args]];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, PORT: String(port), OPSBOOK_DATA_DIR: dataDir, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so the fallback kill reaches tsx's node child too.
    detached: true,
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      r({ code, signal });
      for (const l of [...listeners]) l();
    }),
  );
  return {
    child,
    tmp,
    dataDir,
    port,
    output: () => out,
    exited,
    waitForOutput(pattern, timeoutMs = STARTUP_TIMEOUT_MS) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            done();
            resolvePromise(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`process did not print ${pattern} within ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** SIGTERM, then SIGKILL to the whole group if it lingers; removes its temporary folder unless kept. */
export async function stopProcess(r: RunningProcess | undefined, opts: { keepTmp?: boolean } = {}): Promise<void> {
  if (!r) return;
  const pid = r.child.pid;
  if (r.child.exitCode === null && r.child.signalCode === null) {
    r.child.kill('SIGTERM');
    const timedOut = await Promise.race([r.exited.then(() => false), new Promise<boolean>((res) => setTimeout(() => res(true), 10_000).unref())]);
    if (timedOut && pid) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await r.exited;
    }
  }
  if (pid) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // No process left in the group.
    }
  }
  if (!opts.keepTmp) rmSync(r.tmp, { recursive: true, force: true });
}

/** The base URL the runner printed, as a new user would copy it. */
export function printedUrl(r: RunningProcess): string {
  const m = r.output().match(/Opsbook is running at (http:\/\/\S+)/);
  if (!m) throw new Error(`no URL in the output:\n${r.output()}`);
  return m[1]!;
}
