// The new-user path: `npm start` (node bin/start.js, the compiled runner) with nothing configured, as a separate
// process, talking HTTP to it like a browser or curl would.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../support/faults.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** The first PGlite start runs initdb (seconds, more on a busy machine): generous, it is not a budget. */
const STARTUP_TIMEOUT_MS = 90_000;
const CRON_SECRET = 'cron-SECRET-given-by-the-test-0123456789';

interface RunningRunner {
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

async function startRunnerProcess(extraEnv: Record<string, string> = {}): Promise<RunningRunner> {
  const tmp = mkdtempSync(join(tmpdir(), 'opsbook-start-'));
  const dataDir = join(tmp, 'data');
  const port = await closedPort();
  const child = spawn(process.execPath, ['bin/start.js'], {
    cwd: ROOT,
    // Nothing but what a fresh shell has, plus the port and a data dir outside the repository.
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
            reject(new Error(`runner exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`runner did not print ${pattern} within ${timeoutMs} ms:\n${out}`));
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

async function stopRunnerProcess(r: RunningRunner | undefined): Promise<void> {
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
  // tsx runs the script in a child node process in the same group: make sure none is left behind.
  if (pid) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // No process left in the group.
    }
  }
  rmSync(r.tmp, { recursive: true, force: true });
}

/** The base URL the runner printed, as a new user would copy it. */
function printedUrl(r: RunningRunner): string {
  const m = r.output().match(/Opsbook is running at (http:\/\/\S+)/);
  if (!m) throw new Error(`no URL in the output:\n${r.output()}`);
  return m[1]!;
}

const CRON_LINE = /\/api\/cron\/daily\s+"0 9 \* \* \*"\s+next \S+/;

let bare: RunningRunner | undefined;
let withSecret: RunningRunner | undefined;

beforeAll(async () => {
  [bare, withSecret] = await Promise.all([startRunnerProcess(), startRunnerProcess({ CRON_SECRET })]);
  await Promise.all([
    // The last lines of each startup screen: everything before them has been printed too.
    bare.waitForOutput(/CRON_SECRET was not set: generated one/),
    withSecret.waitForOutput(CRON_LINE),
  ]);
}, STARTUP_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await Promise.all([stopRunnerProcess(bare), stopRunnerProcess(withSecret)]);
}, 60_000);

const errorShape = (code: string) => ({ error: { code, message: expect.any(String) }, requestId: expect.any(String) });

describe('npm start with nothing configured', () => {
  it('prints where it runs, on the port from PORT', () => {
    expect(printedUrl(bare!)).toBe(`http://localhost:${bare!.port}`);
  });

  it('says which embedded defaults it uses: PGlite, in-memory Redis, the outbox, Sentry off', () => {
    const out = bare!.output();
    expect(out).toContain(`PGlite (embedded) in ${join(bare!.dataDir, 'pglite')}`);
    expect(out).toMatch(/Redis\s+in-memory fallback/);
    expect(out).toContain(`written to ${join(bare!.dataDir, 'outbox')}/`);
    expect(out).toMatch(/Sentry\s+off/);
  });

  it('lists the routes and the cron schedule with its next run', () => {
    const out = bare!.output();
    const url = printedUrl(bare!);
    expect(out).toContain(`${url}/api/health`);
    expect(out).toContain(`${url}/api/cron/[job]`);
    expect(out).toContain('Crons (UTC):');
    expect(out).toMatch(/\/api\/cron\/daily\s+"0 9 \* \* \*"\s+next \d{4}-\d\d-\d\dT09:00:00\.000Z/);
  });

  it('keeps its data in OPSBOOK_DATA_DIR', () => {
    expect(existsSync(join(bare!.dataDir, 'pglite'))).toBe(true);
  });

  it('GET /api/health → 200 healthy with both checks healthy, no-store, and nothing but status, timestamp and checks', async () => {
    const res = await fetch(`${printedUrl(bare!)}/api/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-request-id')).toEqual(expect.any(String));
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('server')).toBeNull();
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      status: 'healthy',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      checks: { database: 'healthy', redis: 'healthy', checklists: 'healthy' },
    });
    // No error text, host, driver or version for an anonymous caller.
    expect(text).not.toMatch(/error|localhost|127\.0\.0\.1|pglite|memory|postgres|version|node|latency/i);
  });

  it('HEAD /api/health → 200 with an empty body', async () => {
    const res = await fetch(`${printedUrl(bare!)}/api/health`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe('');
  });

  it.each([
    ['no Authorization', undefined],
    ['a wrong secret', 'Bearer not-the-cron-secret-at-all'],
    ['the right scheme with an empty token', 'Bearer '],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
  ])('GET /api/cron/daily with %s → 401 in the error shape', async (_label, authorization) => {
    const res = await fetch(`${printedUrl(bare!)}/api/cron/daily`, { headers: authorization ? { authorization } : {} });
    expect(res.status).toBe(401);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body).toEqual(errorShape('UNAUTHORIZED'));
    expect(res.headers.get('x-request-id')).toBe(body.requestId);
  });

  it("a client x-request-id never replaces Opsbook's own request id in the error body", async () => {
    const res = await fetch(`${printedUrl(bare!)}/api/cron/daily`, { headers: { 'x-request-id': 'req-from-test-1' } });
    const body = await res.json();
    expect(body).toEqual(errorShape('UNAUTHORIZED'));
    expect(body.requestId).not.toBe('req-from-test-1');
    expect(res.headers.get('x-request-id')).toBe(body.requestId);
  });

  it.each([
    ['GET /api/nope', 'GET', '/api/nope', 404, 'NOT_FOUND'],
    ['GET / (nothing outside /api)', 'GET', '/', 404, 'NOT_FOUND'],
    ['GET /api/health/extra', 'GET', '/api/health/extra', 404, 'NOT_FOUND'],
    ['POST /api/health (GET and HEAD only)', 'POST', '/api/health', 405, 'METHOD_NOT_ALLOWED'],
  ])('%s → %i in the error shape', async (_label, method, path, status, code) => {
    const res = await fetch(`${printedUrl(bare!)}${path}`, { method });
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual(errorShape(code));
  });
});

describe('npm start with CRON_SECRET set', () => {
  it('does not generate a secret, and never prints the one it was given', () => {
    expect(withSecret!.output()).not.toContain('generated one');
    expect(withSecret!.output()).not.toContain(CRON_SECRET);
  });

  // The default daily checklist runs at 09:00 UTC: before that the route answers "not due" with the
  // reason, from then on it runs once and then answers "already ran". Both are 200: Vercel never retries.
  it('GET /api/cron/daily with the secret → 200 (run, or not due yet); a second call never runs it twice', async () => {
    const url = `${printedUrl(withSecret!)}/api/cron/daily`;
    const headers = { authorization: `Bearer ${CRON_SECRET}` };
    const first = await fetch(url, { headers });
    expect(first.status).toBe(200);
    const ran = await first.json();
    const second = await fetch(url, { headers });
    expect(second.status).toBe(200);
    const again = await second.json();
    if (ran.status === 'not-due') {
      expect(ran).toMatchObject({ checklist: 'daily', reason: expect.stringContaining('not time yet') });
      expect(again.status).toBe('not-due');
    } else {
      expect(ran).toMatchObject({ checklist: 'daily', status: 'completed', period: expect.stringMatching(/^\d{4}-\d\d-\d\d$/), runId: expect.any(Number) });
      expect(again).toMatchObject({ checklist: 'daily', status: 'already-ran', period: ran.period, runId: ran.runId });
    }
  });

  it('an unknown job with the secret → 404 NOT_FOUND', async () => {
    const res = await fetch(`${printedUrl(withSecret!)}/api/cron/no-such-job`, { headers: { authorization: `Bearer ${CRON_SECRET}` } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(errorShape('NOT_FOUND'));
  });

  it('an unknown job without the secret → 401, revealing nothing about which jobs exist', async () => {
    const res = await fetch(`${printedUrl(withSecret!)}/api/cron/no-such-job`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(errorShape('UNAUTHORIZED'));
  });

  it('after serving cron calls, the secret still appears nowhere in the output', async () => {
    await withSecret!.waitForOutput(/GET \/api\/cron\/daily → 200/, 10_000);
    expect(withSecret!.output()).not.toContain(CRON_SECRET);
  });

  it('SIGTERM → stops and exits 0', async () => {
    withSecret!.child.kill('SIGTERM');
    const { code } = await withSecret!.exited;
    expect(code).toBe(0);
    expect(withSecret!.output()).toContain('Stopping');
  });
});
