/**
 * `npm run bench`: runs every `bench/*.bench.ts` module in turn, prints one table of figures with their
 * goals, and writes the same to `.opsbook/bench-results.json`.
 *
 * A benchmark is a measurement, not a test: a MISS is reported and the exit code stays 0. The exit code
 * is non-zero only when a module could not measure (a service down, a wrong answer, a crash).
 *
 *   npm run bench                 every module
 *   npm run bench -- cold         only modules whose name contains "cold"
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { postgresProblem, startPgCluster } from '../test/support/pg-cluster.js';
import type { BenchContext, BenchModule, Figure } from './support/figures.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDir, '..');
const resultsFile = join(repoRoot, '.opsbook', 'bench-results.json');

interface ModuleOutcome {
  name: string;
  description?: string;
  file: string;
  durationMs: number;
  /** 1-minute load average before and after: other work on the machine skews every figure. */
  load: { before: number; after: number };
  figures: Figure[];
  notes: string[];
  error?: string;
}

async function discover(filters: string[]): Promise<{ file: string; module: BenchModule }[]> {
  const files = (await readdir(benchDir)).filter((f) => f.endsWith('.bench.ts')).sort();
  const found: { file: string; module: BenchModule }[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(benchDir, file)).href)) as Partial<BenchModule>;
    if (typeof mod.name !== 'string' || typeof mod.run !== 'function') {
      throw new Error(`bench/${file} must export \`name\` (string) and \`run(ctx)\``);
    }
    if (filters.length > 0 && !filters.some((f) => mod.name!.includes(f) || file.includes(f))) continue;
    found.push({ file, module: mod as BenchModule });
  }
  return found;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function formatValue(f: Figure): string {
  const digits = f.unit === 'ratio' ? 2 : Number.isInteger(f.value) ? 0 : 1;
  const unit = f.unit === 'ratio' ? '' : ` ${f.unit}`;
  return `${f.value.toFixed(digits)}${unit}`;
}

function verdict(f: Figure): string {
  return f.pass === null ? '' : f.pass ? 'PASS' : 'MISS';
}

function printTable(outcomes: ModuleOutcome[]): void {
  const rows: string[][] = [['group', 'figure', 'value', 'goal', 'result']];
  for (const o of outcomes) {
    if (o.error) rows.push([o.name, 'ERROR (see below)', '', '', 'ERROR']);
    for (const f of o.figures) rows.push([o.name, f.name, formatValue(f), f.goal ?? '', verdict(f)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log('');
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  let group = '';
  for (const r of rows.slice(1)) {
    if (group && r[0] !== group) console.log('');
    group = r[0]!;
    console.log(line(r));
  }
  for (const o of outcomes) {
    if (o.notes.length === 0 && !o.error) continue;
    console.log(`\n[${o.name}]${o.description ? ` ${o.description}` : ''}`);
    for (const n of o.notes) console.log(`  ${n}`);
    if (o.error) console.log(`  ERROR: ${o.error}`);
  }
}

/**
 * The benchmarks need what the suite needs (pg_stat_statements preloaded, a superuser): on a machine whose
 * Postgres lacks it, they run on the same kind of throwaway cluster the suite starts, before any module is
 * imported (they read TEST_DATABASE_URL when they load), and stop it at the end.
 */
async function withPostgres<T>(fn: () => Promise<T>): Promise<T> {
  const configured = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const problem = await postgresProblem(configured);
  if (!problem) return fn();
  console.error(`opsbook bench: ${configured.replace(/\/\/[^@]*@/, '//')}: ${problem}; the benchmarks use their own PostgreSQL instead`);
  const cluster = await startPgCluster({ log: (line) => console.error(line.replace('[test]', '[bench]')) });
  process.env.TEST_DATABASE_URL = cluster.url;
  try {
    return await fn();
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<number> {
  return withPostgres(measure);
}

async function measure(): Promise<number> {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const modules = await discover(filters);
  if (modules.length === 0) {
    console.error(`no bench module matches ${filters.join(' ')}`);
    return 2;
  }
  const cpuList = cpus();
  const machine = {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${platform()}-${arch()}`,
  };
  console.error(`opsbook bench: ${modules.length} module(s) on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}`);

  const outcomes: ModuleOutcome[] = [];
  for (const { file, module } of modules) {
    const outcome: ModuleOutcome = {
      name: module.name,
      description: module.description,
      file: `bench/${file}`,
      durationMs: 0,
      load: { before: round1(loadavg()[0]!), after: 0 },
      figures: [],
      notes: [],
    };
    const ctx: BenchContext = {
      repoRoot,
      progress: (m) => console.error(`[${module.name}] ${m}`),
      note: (m) => outcome.notes.push(m),
    };
    const start = performance.now();
    try {
      outcome.figures = await module.run(ctx);
    } catch (err) {
      outcome.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    }
    outcome.durationMs = Math.round(performance.now() - start);
    outcome.load.after = round1(loadavg()[0]!);
    if (Math.max(outcome.load.before, outcome.load.after) > machine.cpus) {
      outcome.notes.push(
        `WARNING: the machine was busy (1-min load ${outcome.load.before} → ${outcome.load.after} on ${machine.cpus} cores): ` +
          'these figures are skewed; rerun on a quiet machine.',
      );
    }
    console.error(`[${module.name}] ${outcome.error ? 'failed' : 'done'} in ${(outcome.durationMs / 1000).toFixed(1)} s`);
    outcomes.push(outcome);
  }

  printTable(outcomes);
  await mkdir(dirname(resultsFile), { recursive: true });
  await writeFile(resultsFile, JSON.stringify({ date: new Date().toISOString(), machine, modules: outcomes }, null, 2) + '\n');
  const figures = outcomes.flatMap((o) => o.figures);
  const judgedCount = figures.filter((f) => f.pass !== null).length;
  const misses = figures.filter((f) => f.pass === false).length;
  const errors = outcomes.filter((o) => o.error).length;
  console.log(`\n${judgedCount - misses}/${judgedCount} goals met${errors ? `, ${errors} module(s) failed` : ''}. Results: ${resultsFile}`);
  return errors > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
