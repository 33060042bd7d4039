/**
 * `npm start`: Opsbook on this machine, on embedded defaults when nothing is configured.
 * Serves every file under api/ with Vercel's routing and fires the config's checklist crons on schedule.
 * `npm start -- --config <path>` (or OPSBOOK_CONFIG=<path>) serves another config file (e.g. one from examples/).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { selectDriver } from '../db/index.js';
import { parseEnv } from '../env.js';
import { messageOf } from '../errors.js';
import { configPathFrom } from '../config/file.js';
import { startRunner } from './runner.js';

const USAGE = 'Usage: npm start [-- --config <path>]   (OPSBOOK_CONFIG, PORT, DATABASE_URL, … from the environment or .env)';

let configPath: string | undefined;
try {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { config: { type: 'string' }, help: { type: 'boolean' } }, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  configPath = values.config;
} catch (err) {
  console.error(`${messageOf(err)}\n${USAGE}`);
  process.exit(2);
}

if (existsSync('.env') && typeof process.loadEnvFile === 'function') process.loadEnvFile('.env');

let generatedSecret = false;
if (!process.env.CRON_SECRET) {
  // The platform always sends a secret; the runner does too, so the cron route behaves as deployed.
  process.env.CRON_SECRET = randomBytes(24).toString('base64url');
  generatedSecret = true;
}

// On embedded defaults nobody has a token yet, and the CLI cannot make one while the runner holds the
// PGlite folder: a fresh admin token for this run, held only in this process (the bootstrap token, so
// no row accumulates), printed once. A chosen OPSBOOK_ADMIN_TOKEN, or a real database, prints nothing.
let generatedAdmin: string | undefined;
try {
  const env = parseEnv(process.env);
  if (selectDriver(env) === 'pglite' && !env.OPSBOOK_ADMIN_TOKEN && env.VERCEL_ENV !== 'production') {
    generatedAdmin = randomBytes(24).toString('base64url');
    process.env.OPSBOOK_ADMIN_TOKEN = generatedAdmin;
  }
} catch {
  // An invalid environment is reported, with every problem, by startRunner below.
}

const port = Number(process.env.PORT ?? 3000);
// Compiled by bin/build.mjs (bin/start.js runs it), this file is dist/<build>/runner.mjs and the routes
// are compiled beside it; the config file is read at start (a build never carries a copy of it).
const here = fileURLToPath(import.meta.url);
const compiled = here.endsWith('.mjs') ? dirname(here) : undefined;
const root = resolve('.');
const routeModule = compiled ? (file: string) => join(compiled, relative(root, file)).replace(/\.m?ts$/, '.mjs') : undefined;
try {
  // --config, else OPSBOOK_CONFIG (from the environment or .env, loaded above), else opsbook.config.ts.
  const chosen = configPathFrom(configPath);
  const runner = await startRunner({ root, port, configPath: chosen ?? (compiled ? 'opsbook.config.ts' : undefined), routeModule, log: (line) => console.log(line) });
  if (generatedSecret) console.log('  CRON_SECRET was not set: generated one for this run (the crons below send it).');
  if (generatedAdmin) {
    const checklist = runner.checklists[0];
    console.log('');
    console.log('  Admin token for this run (OPSBOOK_ADMIN_TOKEN was not set; it works until the runner stops):');
    console.log(`    ${generatedAdmin}`);
    console.log('  Try:');
    console.log(`    curl -s -H "Authorization: Bearer ${generatedAdmin}" ${runner.url}/api/health`);
    console.log(`    curl -s -H "Authorization: Bearer ${generatedAdmin}" ${runner.url}/api/diagnostics`);
    if (checklist) {
      // The cron route runs a checklist as Vercel would: now, if it is due today and has not run yet.
      const secret = generatedSecret ? process.env.CRON_SECRET : '$CRON_SECRET';
      console.log(`    curl -s -H "Authorization: Bearer ${secret}" ${runner.url}/api/cron/${checklist}   # run "${checklist}" if due`);
    }
    console.log(`    OPSBOOK_TOKEN=${generatedAdmin} npx opsbook admin --url ${runner.url}   # the admin actions`);
  }
  const stop = async () => {
    console.log('\nStopping…');
    await runner.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error(messageOf(err));
  process.exit(1);
}
