// The installed entry point, as `npx opsbook` runs it: a real `node bin/opsbook.js` subprocess (the CLI
// compiled by bin/build.mjs, no TypeScript loader), in the repository or in a project folder of its own.
import { execFile } from 'node:child_process';
import { readFileSync, utimesSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envSchema } from '../../lib/env.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/opsbook.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

type Result = { code: number; stdout: string; stderr: string };

function opsbook(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('node bin/opsbook.js', () => {
  it('--help → exit 0 with the usage text', async () => {
    const { code, stdout, stderr } = await opsbook(['--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^opsbook — the runbook that runs itself\n\nUsage:\n {2}opsbook run <checklist>/);
  });

  it('check-config → exit 0: the repository’s opsbook.config.ts is valid, with its checklists listed', async () => {
    const { code, stdout, stderr } = await opsbook(['check-config']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toBe('opsbook.config.ts: valid — Opsbook');
    for (const id of ['daily', 'weekly', 'monthly', 'quarterly']) expect(stdout).toContain(`  checklist ${id}: `);
  });

  it('runs compiled JavaScript on plain Node: no TypeScript loader is loaded, and a TypeScript config file still reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opsbook-plain-'));
    try {
      // A loader hook that refuses tsx: if the CLI reached for a TypeScript loader, it would fail.
      await writeFile(join(dir, 'hooks.mjs'), "export async function resolve(s, c, next) { if (/^tsx(\\/|$)/.test(s)) throw new Error('tsx was loaded: ' + s); return next(s, c); }\n");
      await writeFile(join(dir, 'refuse-tsx.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
      const config = join(dir, 'ops.config.ts');
      await writeFile(config, `import { defineConfig } from '${join(ROOT, 'lib/config/define.js')}';\nconst service: string = 'Typed';\nexport default defineConfig({ service, checklists: [] });\n`);
      const { code, stdout, stderr } = await opsbook(['check-config', '--config', config], { env: { ...process.env, NODE_OPTIONS: `--import ${pathToFileURL(join(dir, 'refuse-tsx.mjs')).href}` } });
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout.split('\n')[0]).toBe(`${config}: valid — Typed`);
      // The compiled temp file beside the config is gone again.
      expect((await readdir(dir)).sort()).toEqual(['hooks.mjs', 'ops.config.ts', 'refuse-tsx.mjs']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a source changed since the build → the CLI is rebuilt before it runs, so what runs is what is in lib/', async () => {
    const stamp = () => JSON.parse(readFileSync(join(ROOT, 'dist/cli.json'), 'utf8')) as { dir: string; newest: number };
    const before = stamp();
    const source = join(ROOT, 'lib/cli/main.ts');
    const future = new Date(Math.max(Date.now(), before.newest) + 2000);
    utimesSync(source, future, future);
    const { code, stdout } = await opsbook(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(VERSION);
    const after = stamp();
    expect(after.dir).not.toBe(before.dir);
    expect(after.newest).toBeGreaterThanOrEqual(future.getTime() - 1);
  });
});

// A project of its own (config, a stale vercel.json, its own database), so that anything a refused
// command did anyway would show: a stored run, a token, a rewritten vercel.json, an HTTP request.
describe('the CLI refuses what it does not understand, and then does nothing', () => {
  let db: TestDatabase;
  let project: string;
  let server: Server;
  let env: NodeJS.ProcessEnv;
  const requests: string[] = [];
  const STALE_VERCEL_JSON = `{\n  "crons": [ { "path": "/api/cron/daily", "schedule": "0 7 * * *" } ]\n}\n`;

  beforeAll(async () => {
    [db, project] = await Promise.all([createTestDatabase(), mkdtemp(join(tmpdir(), 'opsbook-bin-'))]);
    await writeFile(
      join(project, 'opsbook.config.ts'),
      `export default { service: 'BinTest', checklists: [{ id: 'daily', title: 'Daily', schedule: { type: 'daily', at: '09:00' }, items: [{ manual: 'Read the support inbox' }] }] };\n`,
    );
    await writeFile(join(project, 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(project, 'vercel.json'), STALE_VERCEL_JSON);
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    env = { ...process.env };
    for (const name of Object.keys(envSchema.shape)) delete env[name];
    Object.assign(env, {
      DATABASE_URL: db.url,
      OPSBOOK_DATA_DIR: join(project, '.opsbook'),
      OPSBOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      OPSBOOK_TOKEN: 'ops_not-a-real-token',
    });
    // Creates Opsbook's tables, so that "no new row" is a count that can be taken.
    const made = await opsbook(['token', 'list'], { cwd: project, env });
    expect(made.code, made.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await new Promise((ok) => server.close(ok));
    await Promise.allSettled([db.drop(), rm(project, { recursive: true, force: true })]);
  });

  const count = async (table: string) => Number((await db.admin.query<{ n: string }>(`SELECT count(*) AS n FROM opsbook.${table}`)).rows[0]!.n);
  /** Everything a command could have done, taken before and after it. */
  const sideEffects = async () => ({
    runs: await count('job_runs'),
    reports: await count('reports'),
    tokens: await count('tokens'),
    vercelJson: await readFile(join(project, 'vercel.json'), 'utf8'),
    requests: requests.length,
  });

  it.each([
    ['run with a misspelled flag', ['run', 'daily', '--dryrun'], /^Unknown flag --dryrun for opsbook run\. Did you mean --dry-run\?$/m],
    ['run with a flag it does not take', ['run', 'daily', '--check'], /^Unknown flag --check for opsbook run\.$/m],
    ['run with a flag missing its value', ['run', 'daily', '--at'], /^--at needs a value: --at <value>/m],
    ['run with a flag as a value', ['run', 'daily', '--config', '--dry-run'], /^--config needs a value/m],
    ['run with a second checklist', ['run', 'daily', 'weekly'], /^opsbook run takes at most 1 checklist, but got "weekly"\.$/m],
    ['check-config with a misspelled flag', ['check-config', '--confg', 'other.config.ts'], /^Unknown flag --confg for opsbook check-config\. Did you mean --config\?$/m],
    ['check-config with a flag missing its value', ['check-config', '--config'], /^--config needs a value/m],
    ['check-config with an argument', ['check-config', 'other.config.ts'], /^opsbook check-config takes no arguments, but got "other\.config\.ts"\.$/m],
    ['crons with a misspelled flag', ['crons', '--chek'], /^Unknown flag --chek for opsbook crons\. Did you mean --check\?$/m],
    ['crons with a value for a boolean flag', ['crons', '--check=no'], /^--check takes no value \(got "no"\)\.$/m],
    ['token create with a misspelled flag', ['token', 'create', '--nmae', 'typo', '--role', 'read'], /^Unknown flag --nmae for opsbook token create\. Did you mean --name\?$/m],
    ['token create with a flag it does not take', ['token', 'create', '--name', 'typo', '--role', 'read', '--yes'], /^Unknown flag --yes for opsbook token create\.$/m],
    ['token list with a misspelled flag', ['token', 'list', '--jsno'], /^Unknown flag --jsno for opsbook token list\. Did you mean --json\?$/m],
    ['token with a misspelled subcommand', ['token', 'craete', '--name', 'typo', '--role', 'read'], /^Unknown token command "craete"\. Did you mean "create"\?$/m],
    ['admin with a misspelled CLI flag', ['admin', 'users.lock', '--userId', '1', '--locked', 'true', '--dryrun'], /^Unknown flag --dryrun for opsbook admin users\.lock\. Did you mean --dry-run\?$/m],
    ['admin with a misspelled --yes', ['admin', 'users.lock', '--userId', '1', '--locked', 'true', '--yse'], /^Unknown flag --yse for opsbook admin users\.lock\. Did you mean --yes\?$/m],
    ['admin with a misspelled parameter', ['admin', 'users.lock', '--userid', '1', '--locked', 'true', '--yes'], /^Unknown flag --userid for opsbook admin users\.lock\. Did you mean --userId\?$/m],
    ['admin with a parameter missing its value', ['admin', 'users.lock', '--userId', '--locked', 'true', '--yes'], /^--userId needs a value/m],
    ['admin with a misspelled action', ['admin', 'users.lok', '--userId', '1', '--yes'], /^Unknown admin action "users\.lok"\. Did you mean "users\.lock"\?/m],
    ['a misspelled command', ['rn', 'daily'], /^Unknown command "rn"\. Did you mean "run"\?$/m],
    ['another misspelled command', ['check-confg'], /^Unknown command "check-confg"\. Did you mean "check-config"\?$/m],
    ['a flag before the command', ['--dry-run', 'run', 'daily'], /^Unknown flag --dry-run: a command comes first/m],
  ])('%s (%j) → exit 2 with the reason on stderr, and nothing was done', async (_what, argv, message) => {
    const before = await sideEffects();
    const { code, stdout, stderr } = await opsbook(argv, { cwd: project, env });
    // No run stored, no token made, vercel.json byte-identical, no request sent.
    expect(await sideEffects()).toEqual(before);
    expect(before.vercelJson).toBe(STALE_VERCEL_JSON);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stdout).toBe('');
  }, 60_000);

  it('the same commands spelled right do what they say: run --dry-run stores nothing, run stores a run, crons --check leaves vercel.json', async () => {
    const before = await sideEffects();
    const dry = await opsbook(['run', 'daily', '--dry-run'], { cwd: project, env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Dry run: nothing was stored or sent\.\n$/);
    expect(await sideEffects()).toEqual(before);

    const check = await opsbook(['crons', '--check'], { cwd: project, env });
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/^vercel\.json crons differ from the config: run `npm run crons` and commit vercel\.json\.\n {2}- checklist "daily": config schedules "0 9 \* \* \*" \(daily at 09:00 UTC\), but vercel\.json has "0 7 \* \* \*"/);
    expect(await readFile(join(project, 'vercel.json'), 'utf8')).toBe(STALE_VERCEL_JSON);

    const real = await opsbook(['run', 'daily'], { cwd: project, env });
    expect(real.code, real.stderr).toBe(0);
    expect(await count('job_runs')).toBe(before.runs + 1);
  }, 120_000);

  it.each([
    ['--version', ['--version'], new RegExp(`^${VERSION.replace(/\./g, '\\.')}\n$`)],
    ['-v', ['-v'], new RegExp(`^${VERSION.replace(/\./g, '\\.')}\n$`)],
    ['help, which lists --dry-run and --yes', ['help'], /^opsbook — the runbook that runs itself\n[\s\S]*--dry-run[\s\S]*--yes {2,}confirm without asking/],
    ['help run', ['help', 'run'], /^Usage:\n {2}opsbook run <checklist> \[--config <path>\] \[--at <ISO date>\] \[--dry-run\] \[--send\]\n/],
    ['run --help', ['run', '--help'], /^Usage:\n {2}opsbook run <checklist>[\s\S]*--dry-run {3}run the checks, store and send nothing/],
    ['crons --help', ['crons', '--help'], /^Usage:\n {2}opsbook crons \[--config <path>\] \[--check\]/],
    ['token create --help', ['token', 'create', '--help'], /^Usage:\n {2}opsbook token create --name <name>/],
    ['admin --help', ['admin', '--help'], /opsbook admin <action> \[--key value …\] \[--yes\] \[--dry-run\][\s\S]*Actions:[\s\S]*users\.lock/],
    ['admin users.lock --help', ['admin', 'users.lock', '--help'], /^Usage:\n {2}opsbook admin users\.lock --userId <string> --locked <boolean> \[--reason <string>\] \[--dry-run\] \[--yes\]/],
  ])('%s → exit 0 with it on stdout, nothing done', async (_what, argv, expected) => {
    const before = await sideEffects();
    const { code, stdout, stderr } = await opsbook(argv, { cwd: project, env });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(expected);
    expect(await sideEffects()).toEqual(before);
  }, 60_000);
});
