#!/usr/bin/env node
// Checks what `vercel build` wrote to .vercel/output against the repository (plain Node ESM, no deps).
//
//   node .ci/vercel-build-check.mjs            # after `vercel build`, from the repository root
//
// 1. Exactly one Node.js function per route file under api/, walked the way Vercel's zero-config
//    detection does (observed with vercel 64): every api/**/*.{js,mjs,ts,tsx} except *.d.ts and paths
//    with a segment starting with `_` or `.`; the function keeps the file's path (api/users/index.ts
//    → functions/api/users/index.func, served at /api/users; `[param]` stays literal).
// 2. Each function's .vc-config.json names a nodejs runtime and a compiled handler that exists, and
//    every module the handler reaches (relative imports, e.g. `../lib/http.js` written against
//    lib/http.ts) and every package it imports is inside the .func.
// 3. .vercel/output/config.json `crons` equals vercel.json `crons`, and each cron path is served by
//    one of the functions.
// 4. Smoke test: every handler imports in a fresh `node` and exports an HTTP method; the health
//    function (if there is one) answers GET and HEAD with 200 against the local Postgres and Redis.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUT = join(ROOT, '.vercel', 'output');
const FUNCTIONS = join(OUTPUT, 'functions');
const FUNCTION_SOURCE = /\.(js|mjs|ts|tsx)$/;
/** What a .func may hold at its top level: the compiled api/ and lib/, the config, packages. */
const FUNCTION_ENTRIES = new Set(['.vc-config.json', 'api', 'cron', 'lib', 'node_modules', 'package.json', 'opsbook.config.js', 'opsbook.config.js.map']);
// The config the build chose (OPSBOOK_CONFIG; bin/deployed-config.mjs wrote it into lib/config/deployed.ts)
// may live in a folder of its own, e.g. examples/.
const deployedConfig = /deployedConfigFile = '([^']+)'/.exec(readFileSync(join(ROOT, 'lib/config/deployed.ts'), 'utf8'))?.[1];
if (deployedConfig?.includes('/')) FUNCTION_ENTRIES.add(deployedConfig.split('/')[0]);
/**
 * Packages the functions must not carry, though a module they bundle can import them: PGlite is the
 * local embedded database (27 MB; production requires DATABASE_URL, and lib/db/pglite.ts says so when
 * it is absent). vercel.json's excludeFiles keeps it out.
 */
const EXCLUDED_PACKAGES = ['@electric-sql/pglite'];
/** Size budgets, MB (MiB): a cold start loads what the function carries. 10 per function is issue 11's goal. */
const MAX_FUNCTION_MB = Number(process.env.MAX_FUNCTION_MB ?? 10);
const MAX_OUTPUT_MB = Number(process.env.MAX_OUTPUT_MB ?? 350);
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const SMOKE_ENV = {
  DATABASE_URL: process.env.SMOKE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.SMOKE_REDIS_URL ?? 'redis://127.0.0.1:6379',
};

const failures = [];
const warnings = [];
const fail = (msg) => failures.push(msg);
const posix = (p) => p.split(sep).join('/');
const readJson = (file, what) => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`${what}: cannot read ${posix(relative(ROOT, file))}: ${err.message}`);
    return undefined;
  }
};

if (!existsSync(OUTPUT)) {
  console.error(`FAIL: ${posix(relative(ROOT, OUTPUT))} does not exist — run \`vercel build\` first.`);
  process.exit(1);
}

// ---------------------------------------------------------------- 1. expected vs built functions
/** api/ files Vercel turns into functions: { fn: 'api/cron/[job]', file: 'api/cron/[job].ts', route: '/api/cron/[job]' } */
function expectedFunctions() {
  const found = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('_') || name.startsWith('.')) continue;
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (FUNCTION_SOURCE.test(name) && !name.endsWith('.d.ts')) {
        const file = posix(relative(ROOT, full));
        const fn = file.replace(FUNCTION_SOURCE, '');
        const route = '/' + fn.replace(/(^|\/)index$/, '');
        found.push({ fn, file, route });
        if (/\.test\.[jt]sx?$|\.spec\.[jt]sx?$/.test(name)) {
          warnings.push(`${file} is a test file inside api/: Vercel deploys it as a function (the local runner does not).`);
        }
      }
    }
  };
  if (existsSync(join(ROOT, 'api'))) walk(join(ROOT, 'api'));
  return found;
}

/** Every *.func directory under .vercel/output/functions, as 'api/cron/[job]'. */
function builtFunctions() {
  const found = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (!statSync(full).isDirectory()) continue;
      if (name.endsWith('.func')) found.push(posix(relative(FUNCTIONS, full)).replace(/\.func$/, ''));
      else walk(full);
    }
  };
  if (existsSync(FUNCTIONS)) walk(FUNCTIONS);
  return found;
}

const expected = expectedFunctions();
const built = builtFunctions();
const expectedNames = expected.map((e) => e.fn);
const dupes = expectedNames.filter((n, i) => expectedNames.indexOf(n) !== i);
for (const d of new Set(dupes)) fail(`two source files under api/ map to the same function ${d}: ${expected.filter((e) => e.fn === d).map((e) => e.file).join(', ')}`);
if (expected.length === 0) fail('no route files found under api/ — nothing would be deployed as a function');
for (const e of expected) if (!built.includes(e.fn)) fail(`missing function: ${e.file} should have produced .vercel/output/functions/${e.fn}.func`);
for (const b of built) if (!expectedNames.includes(b)) fail(`unexpected function .vercel/output/functions/${b}.func: no route file under api/ accounts for it`);

// ---------------------------------------------------------------- 2. each function's config and bundle
function specifiersOf(code) {
  const src = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specs = new Set();
  const patterns = [
    /(?:^|[\s;})])(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"\n]+)['"]/g,
    /(?:^|[\s;})])import\s*['"]([^'"\n]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of src.matchAll(re)) specs.add(m[1]);
  return [...specs];
}

const builtins = new Set(builtinModules);
function packageName(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Follow the handler's module graph inside the .func; returns the project modules it reached. */
function checkBundle(fn, funcDir, handler) {
  const seen = new Set();
  const queue = [join(funcDir, handler)];
  const packages = new Set();
  while (queue.length) {
    const file = queue.shift();
    if (seen.has(file)) continue;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const spec of specifiersOf(code)) {
      if (spec.startsWith('./') || spec.startsWith('../')) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(funcDir + sep)) fail(`${fn}: ${posix(relative(funcDir, file))} imports '${spec}', which points outside the function`);
        else if (!existsSync(target) || !statSync(target).isFile()) {
          const ts = target.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts').replace(/\.cjs$/, '.cts');
          fail(
            `${fn}: ${posix(relative(funcDir, file))} imports '${spec}' but ${posix(relative(funcDir, target))} is not in the bundle` +
              (existsSync(join(ROOT, posix(relative(funcDir, ts)))) ? ' (the .ts source exists: the builder did not compile/trace it)' : ''),
          );
        } else if (/\.(m|c)?js$/.test(target)) queue.push(target);
      } else if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(spec.split('/')[0])) {
        continue;
      } else if (!spec.startsWith('/') && !spec.includes(':')) {
        const pkg = packageName(spec);
        packages.add(pkg);
        if (EXCLUDED_PACKAGES.includes(pkg)) continue;
        if (!existsSync(join(funcDir, 'node_modules', pkg))) fail(`${fn}: ${posix(relative(funcDir, file))} imports '${spec}' but node_modules/${pkg} is not in the bundle`);
      }
    }
  }
  return { modules: [...seen].map((f) => posix(relative(funcDir, f))).sort(), packages: [...packages].sort() };
}

const report = [];
for (const e of expected.filter((x) => built.includes(x.fn))) {
  const funcDir = join(FUNCTIONS, `${e.fn}.func`);
  const cfg = readJson(join(funcDir, '.vc-config.json'), e.fn);
  if (!cfg) continue;
  if (typeof cfg.runtime !== 'string' || !/^nodejs\d+\.x$/.test(cfg.runtime)) fail(`${e.fn}: .vc-config.json runtime is ${JSON.stringify(cfg.runtime)}, expected nodejsNN.x`);
  if (typeof cfg.handler !== 'string' || !existsSync(join(funcDir, cfg.handler))) {
    fail(`${e.fn}: .vc-config.json handler ${JSON.stringify(cfg.handler)} does not exist in the .func`);
    continue;
  }
  if (!/\.(m|c)?js$/.test(cfg.handler)) fail(`${e.fn}: handler ${cfg.handler} is not compiled JavaScript`);
  // A function holds its compiled code, its packages and the config, never the project's working
  // files: tests' outboxes, PGlite data or an earlier build output traced in make the bundle huge and
  // once made the build itself fail (it copied .vercel/output into itself).
  const strays = readdirSync(funcDir).filter((name) => !FUNCTION_ENTRIES.has(name));
  if (strays.length) fail(`${e.fn}: the function bundles project files it never imports: ${strays.sort().join(', ')} (exclude them in vercel.json "functions" excludeFiles)`);
  for (const pkg of EXCLUDED_PACKAGES) if (existsSync(join(funcDir, 'node_modules', pkg))) fail(`${e.fn}: bundles ${pkg}, which functions must not carry (vercel.json "functions" excludeFiles)`);
  const bundle = checkBundle(e.fn, funcDir, cfg.handler);
  report.push({ ...e, funcDir, runtime: cfg.runtime, handler: cfg.handler, ...bundle });
}

// ---------------------------------------------------------------- 3. crons
const vercelJson = existsSync(join(ROOT, 'vercel.json')) ? readJson(join(ROOT, 'vercel.json'), 'vercel.json') : {};
const outputConfig = readJson(join(OUTPUT, 'config.json'), 'build output config') ?? {};
const cronKey = (c) => `${c.path} ${c.schedule}`;
const wantCrons = (vercelJson?.crons ?? []).map(cronKey).sort();
const gotCrons = (outputConfig.crons ?? []).map(cronKey).sort();
if (JSON.stringify(wantCrons) !== JSON.stringify(gotCrons)) {
  fail(`crons differ: vercel.json has ${JSON.stringify(wantCrons)}, .vercel/output/config.json has ${JSON.stringify(gotCrons)}`);
}
function servedBy(path) {
  const parts = path.split('?')[0].replace(/\/+$/, '').split('/').slice(1);
  const matches = expected.filter((e) => {
    const segs = e.route.split('/').slice(1);
    return segs.length === parts.length && segs.every((s, i) => (/^\[[^\]]+\]$/.test(s) ? parts[i] !== '' : s === parts[i]));
  });
  // Static segments win over [param] ones, as on Vercel.
  return matches.sort((a, b) => (a.route.match(/\[/g)?.length ?? 0) - (b.route.match(/\[/g)?.length ?? 0))[0];
}
for (const c of outputConfig.crons ?? []) if (!servedBy(c.path)) fail(`cron ${c.path} (${c.schedule}) matches no function under api/`);

// ---------------------------------------------------------------- static output: source published?
const staticDir = join(OUTPUT, 'static');
const leaked = [];
const walkStatic = (dir) => {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walkStatic(full);
    else if (/\.(ts|mts|cts|js|mjs|cjs|map)$|^\.env/.test(name)) leaked.push(posix(relative(staticDir, full)));
  }
};
if (existsSync(staticDir)) walkStatic(staticDir);
if (leaked.length) {
  warnings.push(
    `the build publishes ${leaked.length} source file(s) as static assets (e.g. /${leaked.slice(0, 3).join(', /')}): with no framework and no public/ ` +
      'directory, Vercel serves the repository root. Adding a public/ directory (any file in it, e.g. public/.gitkeep) limits static output to it.',
  );
}

// ---------------------------------------------------------------- 4. smoke test
function runNode(code, cwd, env) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return { ok: r.status === 0, result: JSON.parse(out), stderr: r.stderr };
  } catch {
    const text = `${r.error?.message ?? ''}\n${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n');
    return { ok: false, result: undefined, stderr: text.slice(-20).join('\n') };
  }
}

for (const r of report) {
  const url = pathToFileURL(join(r.funcDir, r.handler)).href;
  const probe = runNode(
    `const m = await import(${JSON.stringify(url)});
     console.log(JSON.stringify(Object.keys(m).filter((k) => typeof m[k] === 'function')));
     process.exit(0);`,
    r.funcDir,
    SMOKE_ENV,
  );
  if (!probe.ok) fail(`${r.fn}: importing the built handler failed:\n${probe.stderr}`);
  else {
    r.exports = probe.result;
    if (!r.exports.some((k) => HTTP_METHODS.includes(k) || k === 'default')) fail(`${r.fn}: the built handler exports no HTTP method (${r.exports.join(', ') || 'nothing'})`);
  }
}

const health = report.find((r) => r.fn === 'api/health');
let healthLine = health ? 'not run: the handler did not import' : 'no api/health function: skipped';
if (health && health.exports) {
  const url = pathToFileURL(join(health.funcDir, health.handler)).href;
  const probe = runNode(
    `const m = await import(${JSON.stringify(url)});
     const get = await m.GET(new Request('http://localhost/api/health'));
     const body = await get.text();
     const head = m.HEAD ? await m.HEAD(new Request('http://localhost/api/health', { method: 'HEAD' })) : undefined;
     const headBody = head ? await head.text() : undefined;
     console.log(JSON.stringify({ status: get.status, type: get.headers.get('content-type'), body, head: head?.status, headBody }));
     process.exit(0);`,
    health.funcDir,
    SMOKE_ENV,
  );
  if (!probe.ok) fail(`api/health: calling the built GET failed:\n${probe.stderr}`);
  else {
    const { status, type, body, head, headBody } = probe.result;
    healthLine = `GET ${status} ${body}` + (head !== undefined ? ` | HEAD ${head}` : '');
    if (status !== 200) fail(`api/health: built GET answered ${status} against ${SMOKE_ENV.DATABASE_URL.replace(/\/\/[^@]*@/, '//')} and ${SMOKE_ENV.REDIS_URL}: ${body}`);
    if (!/json/.test(type ?? '')) fail(`api/health: content-type is ${type}, expected JSON`);
    if (head !== undefined && (head !== status || headBody !== '')) fail(`api/health: HEAD answered ${head} with a ${headBody.length}-byte body; expected ${status} and no body`);
  }
}

// ---------------------------------------------------------------- Sentry from a built function
// vercel.json leaves Sentry's CommonJS builds and dependencies' source maps out of the functions; prove
// the ESM Sentry still initialises and delivers an event to a local sink from inside a built bundle.
let sentryLine = 'not run: no api/health function';
if (health && health.exports) {
  const probe = runNode(
    `import http from 'node:http';
     let got = 0;
     const srv = http.createServer((q, s) => { q.resume(); q.on('end', () => { got++; s.writeHead(200); s.end('{}'); }); }).listen(0, '127.0.0.1');
     await new Promise((r) => srv.once('listening', r));
     process.env.SENTRY_DSN = 'http://public@127.0.0.1:' + srv.address().port + '/1';
     const { createErrorReporter } = await import(${JSON.stringify(pathToFileURL(join(health.funcDir, 'lib/sentry.js')).href)});
     const { parseEnv } = await import(${JSON.stringify(pathToFileURL(join(health.funcDir, 'lib/env.js')).href)});
     const reporter = createErrorReporter(parseEnv(process.env));
     await reporter.captureException(new Error('build check probe'));
     await reporter.flush(5000);
     srv.close();
     console.log(JSON.stringify({ got }));
     process.exit(0);`,
    health.funcDir,
    SMOKE_ENV,
  );
  if (!probe.ok) fail(`api/health: Sentry did not load from the built function:\n${probe.stderr}`);
  else if (!(probe.result.got > 0)) fail('api/health: Sentry loaded from the built function but delivered no event to the local sink');
  else sentryLine = `an event reached the local sink (${probe.result.got} envelope(s))`;
}

// ---------------------------------------------------------------- sizes
function bytesUnder(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(full);
    else total += lstatSync(full).size;
  }
  return total;
}
const MB = 1024 * 1024;
for (const r of report) {
  r.mb = bytesUnder(r.funcDir) / MB;
  if (r.mb > MAX_FUNCTION_MB) fail(`${r.fn}: ${r.mb.toFixed(1)} MB, over the ${MAX_FUNCTION_MB} MB budget per function`);
}
const outputMb = bytesUnder(OUTPUT) / MB;
if (outputMb > MAX_OUTPUT_MB) fail(`.vercel/output is ${outputMb.toFixed(0)} MB, over the ${MAX_OUTPUT_MB} MB budget`);

// ---------------------------------------------------------------- report
console.log(`Functions (${report.length} built, ${expected.length} route files under api/):`);
for (const r of report) {
  const project = r.modules.filter((m) => m !== r.handler);
  console.log(`  ${r.route.padEnd(24)} ${r.fn}.func  ${r.mb.toFixed(1)} MB  ${r.runtime}  handler=${r.handler}  exports=${(r.exports ?? []).join(',')}`);
  console.log(`  ${''.padEnd(24)} ${project.length} project module(s) bundled${project.length ? ` (${project.slice(0, 6).join(', ')}${project.length > 6 ? ', …' : ''})` : ''}; packages: ${r.packages.join(', ') || 'none'}`);
}
console.log(`Sizes: largest function ${Math.max(...report.map((r) => r.mb)).toFixed(1)} MB (budget ${MAX_FUNCTION_MB}), .vercel/output ${outputMb.toFixed(0)} MB (budget ${MAX_OUTPUT_MB})`);
console.log(`Crons in .vercel/output/config.json (${gotCrons.length}):`);
for (const c of outputConfig.crons ?? []) console.log(`  ${c.schedule.padEnd(16)} ${c.path}  → ${servedBy(c.path)?.fn ?? 'NO FUNCTION'}`);
console.log(`Smoke test /api/health (built function, local Postgres + Redis): ${healthLine}`);
console.log(`Sentry from the built api/health: ${sentryLine}`);
for (const w of warnings) console.log(`WARNING: ${w}`);

if (failures.length) {
  console.error(`\nFAIL: the Vercel build output is not deployable as expected (${failures.length} problem(s)):`);
  for (const f of failures) console.error(`  - ${f}`);
  process.exit(1);
}
console.log('OK: one Node.js function per api/ route file, bundles complete, crons registered.');
