// The CLI in-process: `main(argv, out, err)` with captured output. It builds its dependencies from the
// environment (getEnv, cached), so each test points DATABASE_URL at this file's own Postgres database
// and OPSBOOK_DATA_DIR at a temp folder, and every Opsbook variable is restored afterwards.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.js';
import { envSchema, resetEnvCache } from '../../lib/env.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { RENAMED_KEY_CASES } from '../support/renamed-keys.js';

const FLAG = `OPSBOOK_T_FLAG_CLI_${randomBytes(4).toString('hex').toUpperCase()}`;

let db: TestDatabase;
let dir: string;
let dataDir: string;
const saved: Record<string, string | undefined> = {};
let files = 0;

/** A config file as an operator writes it (TypeScript, default export), at a fresh path. */
async function writeConfig(config: unknown): Promise<string> {
  const path = join(dir, `opsbook.config.${++files}.ts`);
  await writeFile(path, `const config: Record<string, unknown> = ${JSON.stringify(config, null, 2)};\nexport default config;\n`);
  return path;
}

const CONFIG = {
  service: 'CliTest',
  recipients: ['oncall@example.com'],
  checks: {
    requiredEnv: [FLAG],
    sqlMetrics: [{ id: 'widgets', title: 'Widgets', sql: 'SELECT count(*) FROM widgets', warn: 10, fail: 100 }],
  },
  checklists: [
    {
      id: 'cli-daily',
      title: 'CLI checklist',
      schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '09:00' },
      items: [{ check: 'env' }, { check: 'sql.widgets' }, { manual: 'Read the support inbox' }],
    },
    { id: 'cli-weekly', title: 'Weekly', schedule: { type: 'weekly', days: ['fri'], at: '10:00' }, items: [{ manual: 'x' }] },
  ],
};

/** Run the CLI and capture what it prints. */
async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => out.push(...l.split('\n')), (l) => err.push(...l.split('\n')));
  return { code, out, err };
}
const count = async (table: string) => Number((await db.admin.query<{ n: string }>(`SELECT count(*) AS n FROM opsbook.${table}`)).rows[0]!.n);

beforeAll(async () => {
  [db, dir] = await Promise.all([createTestDatabase(), mkdtemp(join(tmpdir(), 'opsbook-cli-'))]);
  await db.admin.query('CREATE TABLE widgets (id serial PRIMARY KEY)');
  for (const name of [...Object.keys(envSchema.shape), FLAG]) saved[name] = process.env[name];
});
afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  resetEnvCache();
  await Promise.allSettled([db.drop(), rm(dir, { recursive: true, force: true })]);
});
beforeEach(async () => {
  // Only what the test names: no Resend, no Sentry, no Redis from the surrounding shell.
  for (const name of Object.keys(envSchema.shape)) delete process.env[name];
  dataDir = await mkdtemp(join(dir, 'data-'));
  process.env.DATABASE_URL = db.url;
  process.env.OPSBOOK_DATA_DIR = dataDir;
  process.env[FLAG] = '1';
  resetEnvCache();
});
afterEach(() => resetEnvCache());

describe('opsbook run', () => {
  it('--dry-run prints the header, one progress line per item, then the text report, and stores and sends nothing', async () => {
    const config = await writeConfig(CONFIG);
    const { code, out, err } = await cli('run', 'cli-daily', '--dry-run', '--config', config);
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^CLI checklist — \d{4}-\d{2}-\d{2}@\d{2}:\d{2}:\d{2} \(dry run: nothing is stored or sent\)$/);
    const progress = out.slice(1, 3).sort();
    expect(progress[0]).toMatch(/^ {2}OK {6}env\.required\s+all 1 required variables are set$/);
    expect(progress[1]).toMatch(/^ {2}OK {6}sql\.widgets\s+0 \(warn above 10, fail above 100\)$/);
    expect(out[3]).toBe('');
    const report = out.slice(4).join('\n');
    expect(report).toContain('CLI checklist');
    expect(report).toContain('Read the support inbox');
    expect(out.at(-1)).toBe('Dry run: nothing was stored or sent.');

    for (const table of ['job_runs', 'run_results', 'reports', 'snapshots']) expect(await count(table)).toBe(0);
    expect(existsSync(join(dataDir, 'outbox'))).toBe(false);
  });

  it('--dry-run with a failing item → the item shows FAIL and the exit code is 1', async () => {
    delete process.env[FLAG];
    const { code, out } = await cli('run', '--dry-run', 'cli-daily', '--config', await writeConfig(CONFIG));
    expect(code).toBe(1);
    expect(out.some((l) => /^ {2}FAIL {4}env\.required\s+1 of 1 required variables missing/.test(l))).toBe(true);
  });

  it('--at 2026-12-07T09:00:00Z → a manual run as of that time: its own period, stored, the report kept but not sent', async () => {
    const { code, out, err } = await cli('run', 'cli-daily', '--at', '2026-12-07T09:00:00Z', '--config', await writeConfig(CONFIG));
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toBe('CLI checklist — 2026-12-07@09:00:00');
    expect(out.at(-1)).toMatch(/^Run #\d+ stored\. Report: not-needed \(use --send to email it\)$/);
    const { rows } = await db.admin.query<{ job: string; period: string; status: string; started_at: Date }>('SELECT job, period, status, started_at FROM opsbook.job_runs');
    expect(rows).toEqual([{ job: 'cli-daily', period: '2026-12-07@09:00:00', status: 'ok', started_at: new Date('2026-12-07T09:00:00Z') }]);
    expect((await db.admin.query('SELECT delivery FROM opsbook.reports')).rows).toEqual([{ delivery: 'not-needed' }]);
    expect(existsSync(join(dataDir, 'outbox'))).toBe(false);
  });

  it('--send → the report is emailed (to the outbox folder without a Resend key) and the line says where', async () => {
    const { code, out } = await cli('run', 'cli-daily', '--send', '--at=2026-12-07T10:00:00Z', '--config', await writeConfig(CONFIG));
    expect(code).toBe(0);
    const files = (await readdir(join(dataDir, 'outbox'))).sort();
    expect(files.map((f) => f.slice(f.lastIndexOf('.')))).toEqual(['.html', '.json', '.txt']);
    expect(out.at(-1)).toBe(`Run #${/Run #(\d+)/.exec(out.at(-1)!)![1]} stored. Report: sent (${join(dataDir, 'outbox', files[0]!)})`);
  });

  it('an unknown checklist → exit 1 naming the known ids, nothing stored', async () => {
    const before = await count('job_runs');
    const { code, out, err } = await cli('run', 'cli-dialy', '--config', await writeConfig(CONFIG));
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('\n')).toBe('No checklist named "cli-dialy". Known: cli-daily, cli-weekly.');
    expect(await count('job_runs')).toBe(before);
  });

  it.each([
    ['no checklist', 2, ['run'], /^Which checklist\? One of: cli-daily, cli-weekly$/],
    ['--at that is not a date', 2, ['run', 'cli-daily', '--at', 'next-monday'], /^--at must be an ISO date, e\.g\. 2026-12-07T09:00:00Z \(got "next-monday"\)$/],
  ])('%s → exit %i with what to type', async (_name, exit, argv, message) => {
    const { code, out } = await cli(...argv, '--config', await writeConfig(CONFIG));
    expect(code).toBe(exit);
    expect(out.join('\n')).toMatch(message);
  });
});

describe('opsbook check-config', () => {
  it('a valid config → exit 0, listing its checks and each checklist with its vercel cron', async () => {
    const path = await writeConfig(CONFIG);
    const { code, out, err } = await cli('check-config', '--config', path);
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toBe(`${path}: valid — CliTest`);
    expect(out.find((l) => l.includes(' checks: '))).toMatch(/env\.required.*sql\.widgets/);
    expect(out).toContain('  checklist cli-daily: CLI checklist — first Monday of the month at 09:00 UTC (vercel cron "0 9 * * 1"), 3 items, notify always');
    expect(out).toContain('  checklist cli-weekly: Weekly — every Friday at 10:00 UTC (vercel cron "0 10 * * 5"), 1 items, notify always');
  });

  it('the repository’s own opsbook.config.ts → valid', async () => {
    const { code, out } = await cli('check-config');
    expect(code).toBe(0);
    expect(out[0]).toBe('opsbook.config.ts: valid — Opsbook');
  });

  it.each([
    ['OPSBOOK_CONFIG names the config when --config is not given', (path: string) => ({ env: path, args: [] as string[] }), (path: string) => path],
    ['--config wins over OPSBOOK_CONFIG', (path: string) => ({ env: 'no/such/opsbook.config.ts', args: ['--config', path] }), (path: string) => path],
    ['an empty OPSBOOK_CONFIG counts as unset', () => ({ env: ' ', args: [] as string[] }), () => 'opsbook.config.ts'],
  ])('%s', async (_name, arrange, expected) => {
    const path = await writeConfig(CONFIG);
    const { env, args } = arrange(path);
    const before = process.env.OPSBOOK_CONFIG;
    process.env.OPSBOOK_CONFIG = env;
    try {
      const { code, out } = await cli('check-config', ...args);
      expect(code).toBe(0);
      expect(out[0]).toMatch(new RegExp(`^${expected(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: valid — `));
    } finally {
      if (before === undefined) delete process.env.OPSBOOK_CONFIG;
      else process.env.OPSBOOK_CONFIG = before;
    }
  });

  it('an invalid config → exit 1 with every problem named by its path', async () => {
    const path = await writeConfig({
      recipients: ['not-an-email'],
      checks: { sqlMetrics: [{ id: 'bad', title: 'Bad', sql: 'DELETE FROM widgets' }] },
      checklists: [
        { id: 'Daily!', title: 'D', schedule: { type: 'daily', at: '25:00' }, items: [{ manual: 'x' }], notify: 'sometimes' },
        { id: 'cron', title: 'C', schedule: { type: 'cron', cron: '*/5 * * * *' }, items: [] },
      ],
    });
    const { code, out, err } = await cli('check-config', '--config', path);
    expect(code).toBe(1);
    expect(out).toEqual([]);
    const text = err.join('\n');
    expect(text).toMatch(/^Invalid config:/);
    for (const where of ['recipients.0', 'checks.sqlMetrics.0.sql', 'checklists.0.id', 'checklists.0.schedule.at', 'checklists.0.notify', 'checklists.1.schedule.cron', 'checklists.1.items']) {
      expect(text).toContain(`  - ${where}: `);
    }
  });

  it.each(RENAMED_KEY_CASES)('$name → exit 1 naming the new key and how to write it, as the only problem', async ({ checklist, problem }) => {
    const path = await writeConfig({ ...CONFIG, checklists: [checklist] });
    const { code, out, err } = await cli('check-config', '--config', path);
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('\n')).toMatch(/^Invalid config:/);
    expect(err.filter((l) => l.startsWith('  - '))).toEqual([`  - ${problem}`]);
  });

  it('a checklist item naming no check → exit 1 with the item’s path', async () => {
    const path = await writeConfig({ checklists: [{ id: 'd', title: 'D', schedule: { type: 'daily', at: '09:00' }, items: [{ check: 'postgres' }, { check: 'postgress.connections' }] }] });
    const { code, out } = await cli('check-config', '--config', path);
    expect(code).toBe(1);
    expect(out.join('\n')).toBe(`${path}: invalid\n  - checklists.0.items.1.check: no check or family "postgress.connections"`);
  });
});

describe('opsbook check-config and vercel.json', () => {
  /** A project folder: the config and, beside it, the vercel.json Vercel deploys. */
  async function project(vercelJson: unknown): Promise<string> {
    const folder = await mkdtemp(join(dir, 'project-'));
    await writeFile(join(folder, 'opsbook.config.ts'), `export default ${JSON.stringify(CONFIG)};\n`);
    await writeFile(join(folder, 'vercel.json'), JSON.stringify(vercelJson, null, 2));
    return join(folder, 'opsbook.config.ts');
  }

  it('vercel.json crons that differ from the config → exit 1 naming the checklist, the config’s schedule and vercel.json’s', async () => {
    const path = await project({ crons: [{ path: '/api/cron/cli-daily', schedule: '0 8 * * 1' }, { path: '/api/cron/cli-weekly', schedule: '0 10 * * 5' }] });
    const { code, out } = await cli('check-config', '--config', path);
    expect(code).toBe(1);
    expect(out).toEqual([
      `${path}: invalid`,
      '  - checklist "cli-daily": config schedules "0 9 * * 1" (first Monday of the month at 09:00 UTC), but vercel.json has "0 8 * * 1": run `npm run crons` and commit vercel.json',
    ]);
  });

  it('vercel.json crons that match the config → valid', async () => {
    const path = await project({ crons: [{ path: '/api/cron/cli-weekly', schedule: '0 10 * * 5' }, { path: '/api/cron/cli-daily', schedule: '0 9 * * 1' }] });
    const { code, out } = await cli('check-config', '--config', path);
    expect(code).toBe(0);
    expect(out[0]).toBe(`${path}: valid — CliTest`);
  });
});

describe('opsbook crons', () => {
  it('--check on the repository → exit 0: vercel.json matches opsbook.config.ts', async () => {
    const { code, out, err } = await cli('crons', '--check');
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out).toContain('/api/cron/daily  "0 9 * * *"');
    expect(out.at(-1)).toBe('vercel.json is up to date.');
  });
});

describe('usage', () => {
  it.each([
    ['--help', 0, ['--help']],
    ['a command with --help', 0, ['run', '--help']],
    ['no command', 2, []],
  ])('%s → the usage text, exit %i', async (_name, exit, argv) => {
    const { code, out } = await cli(...argv);
    expect(code).toBe(exit);
    expect(out.join('\n')).toContain('Usage:\n  opsbook run <checklist>');
  });

  it('an unknown command → exit 2 naming it, and where the commands are listed', async () => {
    const { code, out, err } = await cli('deploy');
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err).toEqual(['Unknown command "deploy".', 'Run `opsbook help` for the commands.']);
  });
});

describe('opsbook postmortem', () => {
  it('prints the draft of a recorded incident (so a redirect writes the file), exit 0; an unknown id → a clear error, exit 1', async () => {
    // A scheduled run with the flag unset opens an incident (alertAfter 1), as the cron would.
    const path = await writeConfig({ ...CONFIG, alerts: { alertAfter: 1, recoverAfter: 1 } });
    delete process.env[FLAG];
    expect((await cli('run', 'cli-daily', '--config', path, '--at', '2026-03-02T09:00:00Z')).code).toBe(1);
    const { runChecklist } = await import('../../lib/checklists/run.js');
    const { loadConfigFile } = await import('../../lib/cli/config-file.js');
    const { createDeps } = await import('../../lib/deps.js');
    const { getEnv } = await import('../../lib/env.js');
    const deps = await createDeps(getEnv());
    try {
      await runChecklist(deps, await loadConfigFile(path), 'cli-daily', new Date('2026-03-02T09:00:00Z'));
    } finally {
      await deps.db.close();
    }
    const { rows } = await db.admin.query<{ id: string }>(`SELECT id::text FROM opsbook.incidents WHERE checklist = 'cli-daily'`);
    expect(rows.length).toBe(1);
    const printed = await cli('postmortem', rows[0]!.id);
    expect(printed.code).toBe(0);
    expect(printed.err).toEqual([]);
    expect(printed.out[0]).toMatch(/^# Post-mortem: .+ — 2026-03-02$/);
    expect(printed.out.filter((l) => l.startsWith('- 2026-03-02T09:00:00.000Z — Detection: '))).toHaveLength(1);
    expect(printed.out).toContain('## Lessons learned');

    const missing = await cli('postmortem', '987654321');
    expect(missing.code).toBe(1);
    expect(missing.out).toEqual([]);
    expect(missing.err).toEqual(['No incident 987654321.']);
  });

  it.each([
    ['an unknown flag', ['postmortem', '1', '--format', 'md'], /^Unknown flag --format for opsbook postmortem\./],
    ['a misspelt flag', ['postmortem', '1', '--hlep'], /^Unknown flag --hlep for opsbook postmortem\. Did you mean --help\?/],
    ['two ids', ['postmortem', '1', '2'], /takes at most 1 incident id/],
    ['an id that is not a number', ['postmortem', 'db-locks'], /"db-locks" is not an incident id/],
    ['no id', ['postmortem'], /^Which incident\?/],
  ])('%s → refused loudly, exit 2, nothing printed on stdout', async (_what, argv, message) => {
    const { code, out, err } = await cli(...argv);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err[0]).toMatch(message);
  });

  it('--help → its usage, exit 0', async () => {
    const { code, out } = await cli('postmortem', '--help');
    expect(code).toBe(0);
    expect(out.join('\n')).toContain('opsbook postmortem <incident id>');
  });
});
