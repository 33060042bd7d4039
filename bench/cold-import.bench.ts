/**
 * "Cold import of the bundled health function ÷ a bare function that imports only the Neon and Upstash
 * clients. Goal ≤ 1.3: Sentry and other heavy modules are not loaded on the happy path."
 *
 * Both functions are bundled with esbuild the way a deployment ships them (ESM, Node 20, npm packages
 * inlined, Node built-ins external, code splitting so every dynamic `import()` stays a lazy chunk). Each
 * sample is a fresh `node` process that times `await import(bundle)` from inside (performance.now()
 * around the import only); the parent also times the whole process. The contenders take turns in a
 * rotating order, so they share the machine's noise.
 *
 * Also reported, for diagnosis: the import followed by the first GET against local peers (cold start to
 * first answer, where the health function also loads its lazy driver chunks), the eagerly loaded graph
 * of the health bundle from esbuild's metafile (Sentry must not be in it), and two attribution
 * contenders: `zod` alone and `lib/env.ts` alone.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startNeonPeer } from '../test/peers/neon-http.js';
import { startUpstashPeer } from '../test/peers/upstash-rest.js';
import {
  bundleFunction,
  chunkBytes,
  chunkOf,
  eagerChunks,
  importChain,
  importersOf,
  inputBytes,
  kb,
  packageBytes,
  packageOf,
  type BundleResult,
} from './support/bundle.js';
import { info, judged, type BenchContext, type Figure } from './support/figures.js';
import { createNeonDb } from '../lib/db/neon.js';
import { createScratchDatabase, PG_ADMIN_URL, REDIS_URL } from './support/services.js';
import { describe, median, quantile, rotation } from './support/stats.js';

export const name = 'cold-import';
export const description = 'cold import of the bundled /api/health vs a bare Neon + Upstash function';

const DATABASE = 'opsbook_bench_cold';
const WARMUP_ROUNDS = 2;
const ROUNDS = 20;
const GOAL = 1.3;
const CHILD_TIMEOUT_MS = 30_000;

/** Packages the health happy path must never load eagerly. */
const OFF_PATH = [/^@sentry\//, /^@opentelemetry\//, /^import-in-the-middle$/, /^pg(-.*)?$/, /^pgpass$/, /^ioredis$/, /^@ioredis\//, /^@electric-sql\//, /^resend$/, /^@react-email\//];
const isSentry = (pkg: string) => pkg.startsWith('@sentry/') || pkg.startsWith('@opentelemetry/');

/** The "bare" function: the two clients, nothing else; its GET does the same two round trips. */
const BARE_SOURCE = `import { neon, neonConfig } from '@neondatabase/serverless';
import { Redis } from '@upstash/redis';

export async function GET(request) {
  if (process.env.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = process.env.NEON_FETCH_ENDPOINT;
  const sql = neon(process.env.DATABASE_URL, { fullResults: true });
  const redis = new Redis({ url: process.env.UPSTASH_REDIS_REST_URL, token: process.env.UPSTASH_REDIS_REST_TOKEN, enableTelemetry: false });
  await Promise.all([sql.query('SELECT 1'), redis.ping()]);
  return Response.json({ status: 'healthy' });
}
`;

/** Attribution: what zod costs on its own, imported the way lib/env.ts imports it. */
const ZOD_SOURCE = `import { z } from 'zod';
export const schema = z.object({ a: z.string().optional() });
`;

/**
 * Runs in each fresh process. performance.now() counts from the process's time origin, so `bootMs` is
 * Node's own start-up before the probe runs.
 */
const PROBE_SOURCE = `const [, , url, mode] = process.argv;
const t0 = performance.now();
const mod = await import(url);
const t1 = performance.now();
const out = { bootMs: t0, importMs: t1 - t0 };
if (mode === 'request') {
  const res = await mod.GET(new Request('http://localhost/api/health'));
  out.status = res.status;
  out.body = await res.text();
  out.firstRequestMs = performance.now() - t1;
}
process.stdout.write(JSON.stringify(out) + '\\n', () => process.exit(0));
`;

interface Contender {
  key: 'health' | 'bare' | 'zod' | 'env';
  bundle: BundleResult;
  /** Also call GET once after the import. */
  request: boolean;
}

interface Sample {
  bootMs: number;
  importMs: number;
  firstRequestMs?: number;
  status?: number;
  body?: string;
  wallMs: number;
}

export async function run(ctx: BenchContext): Promise<Figure[]> {
  const work = await mkdtemp(join(tmpdir(), 'opsbook-bench-cold-'));
  const keep = process.env.BENCH_KEEP_BUILD === '1';
  const nodeModules = join(ctx.repoRoot, 'node_modules');
  // Closed in reverse order of opening: the peers before the scratch database they connect to.
  const cleanup: (() => Promise<void>)[] = [];
  try {
    await mkdir(join(work, 'src'));
    await writeFile(join(work, 'src', 'bare.mjs'), BARE_SOURCE);
    await writeFile(join(work, 'src', 'zod-only.mjs'), ZOD_SOURCE);
    await writeFile(join(work, 'probe.mjs'), PROBE_SOURCE);

    ctx.progress('bundling api/health.ts, the bare function and the attribution entries with esbuild');
    const [health, bare, zod, env] = await Promise.all([
      bundleFunction({ entry: 'api/health.ts', outdir: join(work, 'health'), workingDir: ctx.repoRoot }),
      bundleFunction({ entry: join(work, 'src', 'bare.mjs'), outdir: join(work, 'bare'), workingDir: ctx.repoRoot, nodePaths: [nodeModules] }),
      bundleFunction({ entry: join(work, 'src', 'zod-only.mjs'), outdir: join(work, 'zod'), workingDir: ctx.repoRoot, nodePaths: [nodeModules] }),
      bundleFunction({ entry: 'lib/env.ts', outdir: join(work, 'env'), workingDir: ctx.repoRoot }),
    ]);

    // What a cold start of the health function loads, read from the metafile.
    const meta = health.metafile;
    const eager = eagerChunks(meta, health.entryOutput);
    const eagerPkgs = packageBytes(meta, eager);
    const eagerTotal = chunkBytes(meta, eager);
    const sentryFiles = [...inputBytes(meta, eager)].filter(([input, bytes]) => bytes > 0 && isSentry(packageOf(input)));
    const offPath = eagerPkgs.filter((p) => p.pkg !== '(app)' && !isSentry(p.pkg) && OFF_PATH.some((re) => re.test(p.pkg)));
    const bareEager = eagerChunks(bare.metafile, bare.entryOutput);
    const bareTotal = chunkBytes(bare.metafile, bareEager);

    ctx.note(`health bundle: ${Object.keys(meta.outputs).length} chunks, ${kb(chunkBytes(meta, Object.keys(meta.outputs)))} KB in all; eagerly loaded on import: ${eager.length} chunk(s), ${kb(eagerTotal)} KB`);
    ctx.note(`eager graph of the health bundle, by package: ${eagerPkgs.map((p) => `${p.pkg} ${kb(p.bytes)} KB (${pct(p.bytes, eagerTotal)}, ${p.files} files)`).join('; ')}`);
    const appFiles = [...inputBytes(meta, eager)].filter(([input, b]) => b > 0 && packageOf(input) === '(app)').sort((a, b) => b[1] - a[1]);
    const appTotal = appFiles.reduce((sum, [, b]) => sum + b, 0);
    const appShown = appFiles.slice(0, 10);
    ctx.note(
      `  app modules in it (${appFiles.length}, ${kb(appTotal)} KB): ${appShown.map(([input, b]) => `${input} ${kb(b)} KB`).join(', ')}` +
        (appFiles.length > appShown.length ? `, and ${appFiles.length - appShown.length} more` : ''),
    );
    const topFiles = [...inputBytes(meta, eager)].filter(([input]) => packageOf(input) !== '(app)').sort((a, b) => b[1] - a[1]).slice(0, 6);
    ctx.note(`  largest npm files in it: ${topFiles.map(([input, b]) => `${input.replace(/^.*node_modules\//, '')} ${kb(b)} KB`).join(', ')}`);
    // Why the largest packages and app modules are there: who imports them, and the shortest chain.
    const entryInput = meta.outputs[health.entryOutput]?.entryPoint ?? 'api/health.ts';
    const eagerInputs = [...inputBytes(meta, eager).keys()];
    for (const p of eagerPkgs.filter((p) => p.pkg !== '(app)').slice(0, 3)) {
      ctx.note(`  why ${p.pkg}: imported by ${importersOf(meta, p.pkg, eagerInputs).join(', ') || '?'}`);
    }
    for (const [input] of appFiles.filter(([input]) => input !== entryInput).slice(0, 3)) {
      ctx.note(`  why ${input}: ${importChain(meta, entryInput, input)?.join(' → ') ?? '?'}`);
    }
    ctx.note(
      `@sentry/node in the eager graph: ${sentryFiles.length === 0 ? 'no' : `YES (${sentryFiles.length} files)`}` +
        describeLazy(meta, 'node_modules/@sentry/node/build/esm/index.js', '@sentry/node'),
    );
    for (const [input, label] of [
      ['lib/db/neon.ts', 'Neon driver'],
      ['lib/redis/upstash.ts', 'Upstash client'],
      ['lib/email/resend.ts', 'Resend (createDeps builds the email sender on every path, health included)'],
      ['lib/db/pg.ts', 'pg driver'],
      ['lib/redis/tcp.ts', 'ioredis'],
      ['lib/db/pglite.ts', 'PGlite adapter'],
    ] as const) {
      const chunk = chunkOf(meta, input);
      if (!chunk) continue;
      const chunks = eagerChunks(meta, chunk).filter((c) => !eager.includes(c));
      ctx.note(`  lazy: ${label}: ${kb(chunkBytes(meta, chunks))} KB, loaded on first use (${input})`);
    }
    ctx.note(`bare bundle: ${kb(bareTotal)} KB, all of it eager (${packageBytes(bare.metafile, bareEager).slice(0, 3).map((p) => `${p.pkg} ${kb(p.bytes)} KB`).join(', ')})`);

    ctx.progress('starting the local Neon and Upstash peers for the first-request figures');
    const scratch = await createScratchDatabase(DATABASE);
    cleanup.push(() => scratch.drop());
    const neonPeer = await startNeonPeer({ upstream: PG_ADMIN_URL });
    cleanup.push(() => neonPeer.close());
    const upstashPeer = await startUpstashPeer({ upstream: REDIS_URL });
    cleanup.push(() => upstashPeer.close());
    await scratch.migrate(createNeonDb(neonPeer.connectionString(DATABASE), { statementTimeoutMs: 30_000, lockTimeoutMs: 10_000, callTimeoutMs: 30_000 }, { fetchEndpoint: neonPeer.fetchEndpoint }));
    // A production-like environment: the health function reads it through lib/env.ts on its first request.
    // RESEND_API_KEY and SENTRY_DSN are set (as in production) but never used: nothing is sent.
    const childEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'production',
      VERCEL_ENV: 'production',
      DATABASE_URL: neonPeer.connectionString(DATABASE),
      NEON_FETCH_ENDPOINT: neonPeer.fetchEndpoint,
      UPSTASH_REDIS_REST_URL: upstashPeer.url,
      UPSTASH_REDIS_REST_TOKEN: upstashPeer.token,
      RESEND_API_KEY: 're_bench_not_a_real_key',
      SENTRY_DSN: 'http://bench@127.0.0.1:9/1',
      OPSBOOK_DATA_DIR: join(work, 'data'),
    };

    const contenders: Contender[] = [
      { key: 'health', bundle: health, request: true },
      { key: 'bare', bundle: bare, request: true },
      { key: 'zod', bundle: zod, request: false },
      { key: 'env', bundle: env, request: false },
    ];
    const samples = new Map<Contender['key'], Sample[]>(contenders.map((c) => [c.key, []]));
    const probe = join(work, 'probe.mjs');

    ctx.progress(`warm-up: ${WARMUP_ROUNDS} rounds (file cache), then ${ROUNDS} rounds × ${contenders.length} fresh node processes`);
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      for (const c of rotation(contenders, round)) {
        const s = await spawnProbe(probe, c.bundle.entryFile, c.request, childEnv, work);
        if (c.request && s.status !== 200) throw new Error(`${c.key}: first GET answered ${s.status}: ${s.body}`);
        if (round >= WARMUP_ROUNDS) samples.get(c.key)!.push(s);
      }
    }

    const pick = (key: Contender['key'], f: (s: Sample) => number | undefined) => samples.get(key)!.map(f).filter((x): x is number => x !== undefined);
    const imp = { health: pick('health', (s) => s.importMs), bare: pick('bare', (s) => s.importMs), zod: pick('zod', (s) => s.importMs), env: pick('env', (s) => s.importMs) };
    const wall = { health: pick('health', (s) => s.wallMs), bare: pick('bare', (s) => s.wallMs) };
    const first = { health: pick('health', (s) => s.importMs + (s.firstRequestMs ?? 0)), bare: pick('bare', (s) => s.importMs + (s.firstRequestMs ?? 0)) };
    const boot = pick('bare', (s) => s.bootMs);

    for (const k of ['health', 'bare', 'zod', 'env'] as const) ctx.note(`import ${k.padEnd(6)} ${describe(imp[k])}`);
    ctx.note(
      `health ÷ bare at p10 (the least disturbed runs): ${(quantile(imp.health, 0.1) / quantile(imp.bare, 0.1)).toFixed(2)}; ` +
        'on a busy machine the median ratio drifts towards 1, because waiting for a core adds the same to both',
    );
    ctx.note(`process wall health ${describe(wall.health)}; bare ${describe(wall.bare)}; node start-up before the probe runs ${describe(boot)}`);
    ctx.note(`import + first GET: health ${describe(first.health)}; bare ${describe(first.bare)}`);
    const top = eagerPkgs.find((p) => p.pkg !== '(app)');
    if (top) {
      ctx.note(
        `largest package in the eager graph: ${top.pkg} — ${kb(top.bytes)} KB of ${kb(eagerTotal)} KB (${pct(top.bytes, eagerTotal)}), ` +
          `imported by ${importersOf(meta, top.pkg, eagerInputs).join(', ')}. ` +
          `Alone, \`import { z } from 'zod'\` imports in ${median(imp.zod).toFixed(1)} ms and lib/env.ts in ${median(imp.env).toFixed(1)} ms, ` +
          `of health's ${median(imp.health).toFixed(1)} ms.`,
      );
    }
    if (keep) ctx.note(`bundles kept in ${work} (BENCH_KEEP_BUILD=1)`);

    const r2 = (x: number) => Math.round(x * 100) / 100;
    const r1 = (x: number) => Math.round(x * 10) / 10;
    return [
      judged('cold import: health ÷ bare', r2(median(imp.health) / median(imp.bare)), 'ratio', { max: GOAL }),
      info('cold import: health bundle, median', r1(median(imp.health)), 'ms'),
      info('cold import: bare bundle, median', r1(median(imp.bare)), 'ms'),
      info('process wall time: health ÷ bare', r2(median(wall.health) / median(wall.bare)), 'ratio'),
      info('process wall time: health, median', r1(median(wall.health)), 'ms'),
      info('process wall time: bare, median', r1(median(wall.bare)), 'ms'),
      info('import + first GET: health ÷ bare', r2(median(first.health) / median(first.bare)), 'ratio'),
      judged('@sentry/* files in the eager graph', sentryFiles.length, 'files', { equals: 0 }),
      judged('pg/ioredis/pglite/resend in the eager graph', offPath.length, 'packages', { equals: 0 }),
      info('eager graph: health', kb(eagerTotal), 'KB'),
      info('eager graph: bare', kb(bareTotal), 'KB'),
      info('attribution: zod alone, cold import', r1(median(imp.zod)), 'ms'),
      info('attribution: lib/env.ts alone, cold import', r1(median(imp.env)), 'ms'),
    ];
  } finally {
    for (const step of cleanup.reverse()) await step().catch((err: unknown) => ctx.note(`cleanup: ${(err as Error).message}`));
    if (!keep) await rm(work, { recursive: true, force: true });
  }
}

function pct(part: number, whole: number): string {
  return `${Math.round((part / whole) * 100)}%`;
}

function describeLazy(meta: BundleResult['metafile'], input: string, label: string): string {
  const chunk = chunkOf(meta, input);
  if (!chunk) return '';
  const chunks = eagerChunks(meta, chunk);
  return `; ${label} is a lazy chunk of ${kb(chunkBytes(meta, chunks))} KB, loaded only when a report is sent`;
}

/** One fresh `node` process: imports the bundle (and calls GET once when asked), reports its timings. */
function spawnProbe(probe: string, bundle: string, request: boolean, env: Record<string, string>, cwd: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [probe, pathToFileURL(bundle).href, request ? 'request' : 'import'], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - start;
      if (code !== 0) {
        reject(new Error(`probe of ${bundle} exited with ${code ?? signal}: ${stderr.trim().slice(0, 2000)}`));
        return;
      }
      try {
        const line = stdout.trim().split('\n').pop() ?? '';
        resolve({ ...(JSON.parse(line) as Omit<Sample, 'wallMs'>), wallMs });
      } catch {
        reject(new Error(`probe of ${bundle} printed no result: ${stdout.slice(0, 500)} ${stderr.slice(0, 500)}`));
      }
    });
  });
}
