// Compiles the CLI (lib/cli/main.ts and what it reaches) to plain JavaScript in dist/ with esbuild,
// so `npx opsbook` never pays for a TypeScript loader. Packages stay external (loaded from
// node_modules, and only on the path that needs them: PGlite, Sentry and BullMQ are dynamic imports),
// and code splitting keeps each command's modules in its own chunk.
//
//   node bin/build.mjs          # build (npm's prepare does this on install)
//   node bin/build.mjs --check  # exit 1 if the build is missing or older than its sources
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
// Each build goes to a folder of its own, and dist/cli.json names the current one (written by rename):
// CLI processes started side by side never see a half-written or deleted build.
const STAMP = join(DIST, 'cli.json');
const SOURCES = ['lib', 'cron', 'api'];

/** The newest modification time of the CLI's possible sources, ms. */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
    }
  };
  for (const s of SOURCES) if (existsSync(join(ROOT, s))) walk(join(ROOT, s));
  return newest;
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The compiled entry (`main`: the CLI, `runner`: npm start), or undefined when it is missing or older than a source file. */
export function currentCli(name = 'main') {
  const stamp = readStamp();
  if (!stamp || typeof stamp.dir !== 'string') return undefined;
  const entry = join(DIST, stamp.dir, `${name}.mjs`);
  if (!existsSync(entry) || stamp.newest < newestSource()) return undefined;
  return entry;
}

/**
 * Every api/ route as its own entry (api/cron/[job].ts → api/cron/[job].mjs), for the compiled runner:
 * with code splitting they share one copy of lib/ with it, as the sources do.
 */
function routeEntries() {
  const entries = {};
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') && !/\.test\./.test(entry.name)) {
        entries[relative(ROOT, full).replace(/\.(ts|mts)$/, '')] = full;
      }
    }
  };
  walk(join(ROOT, 'api'));
  return entries;
}

/** Build the CLI and the runner. Returns the CLI entry's path. */
export async function buildCli() {
  const { build } = await import('esbuild');
  const newest = newestSource();
  const dir = `cli-${Date.now()}-${process.pid}`;
  await build({
    entryPoints: { main: join(ROOT, 'lib/cli/main.ts'), runner: join(ROOT, 'lib/runner/start.ts'), ...routeEntries() },
    outdir: join(DIST, dir),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [
      {
        // The deployed config (lib/config/deployed.ts, which the build points at OPSBOOK_CONFIG's file) is
        // for functions; the CLI reads the config file it is given (lib/cli/config-file.ts) and sets it as
        // the source, so a stale copy is never baked in here.
        name: 'no-baked-config',
        setup(b) {
          b.onResolve({ filter: /opsbook\.config\.js$/ }, () => ({ path: 'opsbook-config', namespace: 'no-baked-config' }));
          b.onResolve({ filter: /^\.\/deployed\.js$/ }, (args) =>
            /lib[\\/]config[\\/]index\.ts$/.test(args.importer) ? { path: 'opsbook-config', namespace: 'no-baked-config' } : undefined,
          );
          b.onLoad({ filter: /.*/, namespace: 'no-baked-config' }, () => ({
            contents: "throw new Error('internal: the CLI reads its config through loadConfigFile');",
            loader: 'js',
          }));
        },
      },
    ],
  });
  const tmp = `${STAMP}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ newest, dir }) + '\n');
  renameSync(tmp, STAMP);
  // Earlier builds, once no process can still be starting from them.
  for (const name of readdirSync(DIST)) {
    if (!name.startsWith('cli-') || name === dir) continue;
    const full = join(DIST, name);
    if (Date.now() - statSync(full).mtimeMs > 10 * 60_000) rmSync(full, { recursive: true, force: true });
  }
  return join(DIST, dir, 'main.mjs');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--check')) {
    const stale = !currentCli();
    console.log(stale ? 'the compiled CLI is missing or older than its sources: run node bin/build.mjs' : 'the compiled CLI is up to date');
    process.exit(stale ? 1 : 0);
  }
  const t = performance.now();
  await buildCli();
  console.log(`opsbook: compiled the CLI to dist/ in ${Math.round(performance.now() - t)} ms`);
}
