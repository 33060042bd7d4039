// OPSBOOK_CONFIG chooses the config the deployed functions serve, at build time: vercel.json's
// buildCommand (node bin/deployed-config.mjs) rewrites lib/config/deployed.ts, which lib/config/index.ts
// imports with a literal specifier so Vercel bundles the chosen file. Every run here happens in a copy
// of the project in a temporary folder (node_modules linked), so the repository's deployed.ts is never
// written; a cold start is a fresh `node` importing lib/config/index.ts, as a function does.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseDeployedConfig, deployedModuleSource, DEFAULT_CONFIG_FILE, DEPLOYED_MODULE } from '../../lib/config/deployed-build.js';
import { parseConfig } from '../../lib/config/index.js';
import { vercelCrons } from '../../cron/index.js';
import vivim from '../../examples/vivim.config.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BUILD_COMMAND = (JSON.parse(await readFile(join(ROOT, 'vercel.json'), 'utf8')) as { buildCommand?: string }).buildCommand;

type Result = { code: number; stdout: string; stderr: string };

function run(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  // Without the caller's OPSBOOK_CONFIG: each case says what it sets.
  const { OPSBOOK_CONFIG: _unset, ...base } = process.env;
  return new Promise((done) => {
    execFile(args[0]!, args.slice(1), { cwd, env: { ...base, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The build step, exactly as vercel.json's buildCommand spells it. */
const buildStep = (cwd: string, env: Record<string, string> = {}) => run(cwd, ['sh', '-c', BUILD_COMMAND!], env);

/** A function's cold start: a fresh node importing the project's lib/config/index.ts, printing what getConfig serves. */
const PROBE = `
const { getConfig } = await import('./lib/config/index.ts');
try {
  const c = await getConfig();
  console.log(JSON.stringify({ ok: true, service: c.service, checklists: c.checklists.map((l) => l.id) }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, message: err.message }));
}
`;
async function coldStart(project: string): Promise<{ ok: boolean; service?: string; checklists?: string[]; code?: string; message?: string }> {
  // VERCEL_ENV=production: no embedded database is opened when an invalid config is reported.
  const res = await run(project, [process.execPath, '--import', 'tsx', 'probe.mts'], { VERCEL_ENV: 'production' });
  expect(res.stderr).toBe('');
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!);
}

const VIVIM = parseConfig(vivim);
const INVALID_CONFIG = `import { defineConfig } from '../lib/config/define.js';
export default defineConfig({ checklists: [{ id: 'daily', title: 'Morning', schedule: { type: 'daily', at: '09:00' }, items: [{ check: 'no-such-check' }] }] });
`;

describe('the build step chooses the deployed config (OPSBOOK_CONFIG at build time)', () => {
  let project: string;
  let outside: string;
  let committedVercelJson: string;
  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'opsbook-deployed-'));
    outside = await mkdtemp(join(tmpdir(), 'opsbook-outside-'));
    for (const entry of ['lib', 'cron', 'bin', 'examples', 'opsbook.config.ts', 'vercel.json', 'package.json']) await cp(join(ROOT, entry), join(project, entry), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');
    await writeFile(join(project, 'probe.mts'), PROBE);
    await mkdir(join(project, 'ops'));
    await writeFile(join(project, 'ops/invalid.config.ts'), INVALID_CONFIG);
    await writeFile(join(project, 'ops/no-default.config.ts'), 'export const config = {};\n');
    await mkdir(join(project, 'docs'));
    await cp(join(ROOT, 'examples/vivim.config.ts'), join(project, 'docs/vivim.config.ts'));
    await cp(join(ROOT, 'examples/vivim.config.ts'), join(outside, 'vivim.config.ts'));
    committedVercelJson = await readFile(join(project, 'vercel.json'), 'utf8');
  });
  afterAll(async () => {
    await Promise.all([rm(project, { recursive: true, force: true }), rm(outside, { recursive: true, force: true })]);
  });

  it('vercel.json runs it as the build command (Vercel runs it before it bundles the functions)', () => {
    expect(BUILD_COMMAND).toBe('node bin/deployed-config.mjs');
  });

  it("the committed lib/config/deployed.ts is what the step writes without OPSBOOK_CONFIG (so such a build changes no file), and the repository's config passes it", async () => {
    expect(await readFile(join(ROOT, DEPLOYED_MODULE), 'utf8')).toBe(deployedModuleSource(DEFAULT_CONFIG_FILE));
    const choice = await chooseDeployedConfig({ root: ROOT, env: {}, write: false });
    expect(choice).toMatchObject({ ok: true, file: 'opsbook.config.ts', fromEnv: false, changed: false });
  });

  // Refused: exit 1, one message on stderr, deployed.ts untouched.
  it.each([
    ['a file that does not exist', () => 'examples/nope.config.ts', /^Opsbook cannot deploy OPSBOOK_CONFIG=examples\/nope\.config\.ts: there is no file at examples\/nope\.config\.ts \(paths are from the project root, .*\)\.\n$/],
    ['a file outside the project', () => join(outside, 'vivim.config.ts'), /^Opsbook cannot deploy OPSBOOK_CONFIG=.*vivim\.config\.ts: .*vivim\.config\.ts is outside the project \(.*\), and a function bundles only the project's files\. Move the config into the project/],
    ['a path climbing out of the project', () => '../vivim.config.ts', /: .* is outside the project .*a function bundles only the project's files/],
    ['a file vercel.json excludes from every function', () => 'docs/vivim.config.ts', /^Opsbook cannot deploy OPSBOOK_CONFIG=docs\/vivim\.config\.ts: docs\/vivim\.config\.ts is left out of every function by vercel\.json "excludeFiles" \(docs\/\*\*\)\. Move the config, or narrow that glob\.\n$/],
    ['a config with no default export', () => 'ops/no-default.config.ts', /^Opsbook cannot deploy OPSBOOK_CONFIG=ops\/no-default\.config\.ts: ops\/no-default\.config\.ts has no default export \(export default defineConfig\(\{\.\.\.\}\)\)\.\n$/],
    [
      'an invalid config',
      () => 'ops/invalid.config.ts',
      /^Opsbook cannot deploy OPSBOOK_CONFIG=ops\/invalid\.config\.ts: ops\/invalid\.config\.ts is invalid \(`npx opsbook check-config --config ops\/invalid\.config\.ts` says the same\):\n {2}- checklists\.0\.items\.0\.check: no check or family "no-such-check"\n$/,
    ],
    [
      "a config whose checklists are not vercel.json's crons",
      () => 'examples/vivim.config.ts',
      new RegExp(
        `^Opsbook cannot deploy OPSBOOK_CONFIG=examples/vivim\\.config\\.ts: vercel\\.json's crons are not examples/vivim\\.config\\.ts's checklists, and Vercel calls what vercel\\.json says:\\n` +
          ` {2}- checklist "daily": config schedules "[^"]+" \\([^)]+\\), but vercel\\.json has "0 9 \\* \\* \\*": set vercel\\.json "crons" to the list below and commit it\\n[\\s\\S]*` +
          ` {2}"crons": ${JSON.stringify(vercelCrons(VIVIM)).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n$`,
      ),
    ],
  ])('%s → refused, naming why, and deployed.ts is untouched', async (_what, config, message) => {
    const before = await readFile(join(project, DEPLOYED_MODULE), 'utf8');
    const res = await buildStep(project, { OPSBOOK_CONFIG: config() });
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(await readFile(join(project, DEPLOYED_MODULE), 'utf8')).toBe(before);
  });

  it('unset → serves opsbook.config.ts, says so, and writes nothing', async () => {
    const res = await buildStep(project);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('opsbook: the functions serve opsbook.config.ts (OPSBOOK_CONFIG is unset): Opsbook, checklists daily, weekly, monthly, quarterly\n');
    expect(await readFile(join(project, DEPLOYED_MODULE), 'utf8')).toBe(deployedModuleSource(DEFAULT_CONFIG_FILE));
    expect(await coldStart(project)).toEqual({ ok: true, service: 'Opsbook', checklists: ['daily', 'weekly', 'monthly', 'quarterly'] });
  });

  it("OPSBOOK_CONFIG=examples/vivim.config.ts with vercel.json's crons matching → a cold start serves VIVIM's config", async () => {
    await writeFile(join(project, 'vercel.json'), JSON.stringify({ ...JSON.parse(committedVercelJson), crons: vercelCrons(VIVIM) }, null, 2) + '\n');
    try {
      const res = await buildStep(project, { OPSBOOK_CONFIG: 'examples/vivim.config.ts' });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^opsbook: the functions serve examples\/vivim\.config\.ts \(OPSBOOK_CONFIG\): VIVIM, checklists daily, weekly.*\nopsbook: wrote lib\/config\/deployed\.ts to re-export it/);
      const written = await readFile(join(project, DEPLOYED_MODULE), 'utf8');
      expect(written).toBe(deployedModuleSource('examples/vivim.config.ts'));
      expect(written).toContain("export { default } from '../../examples/vivim.config.js';");
      expect(await coldStart(project)).toEqual({ ok: true, service: 'VIVIM', checklists: VIVIM.checklists.map((l) => l.id) });
      // Run again without it: back to the committed content.
      await writeFile(join(project, 'vercel.json'), committedVercelJson);
      expect((await buildStep(project)).code).toBe(0);
      expect(await readFile(join(project, DEPLOYED_MODULE), 'utf8')).toBe(deployedModuleSource(DEFAULT_CONFIG_FILE));
    } finally {
      await writeFile(join(project, 'vercel.json'), committedVercelJson);
      await writeFile(join(project, DEPLOYED_MODULE), deployedModuleSource(DEFAULT_CONFIG_FILE));
    }
  });

  it('a deployed config that turns out invalid at the cold start → MISCONFIGURED naming that file and the check-config line for it', async () => {
    // As a build that skipped the step would leave it (the step itself refuses this config).
    await writeFile(join(project, DEPLOYED_MODULE), deployedModuleSource('ops/invalid.config.ts'));
    try {
      const served = await coldStart(project);
      expect(served).toMatchObject({ ok: false, code: 'MISCONFIGURED' });
      expect(served.message).toMatch(/^Opsbook's config \(ops\/invalid\.config\.ts\) is invalid \(1 problem\), so Opsbook runs nothing until it is fixed\. `npx opsbook check-config --config ops\/invalid\.config\.ts` names them/);
    } finally {
      await writeFile(join(project, DEPLOYED_MODULE), deployedModuleSource(DEFAULT_CONFIG_FILE));
    }
  });
});
