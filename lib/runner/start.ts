/**
 * `npm start`: Opsbook on this machine, on embedded defaults when nothing is configured.
 * Serves every file under api/ with Vercel's routing and fires vercel.json's crons on schedule.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { startRunner } from './runner.js';

if (existsSync('.env') && typeof process.loadEnvFile === 'function') process.loadEnvFile('.env');

let generatedSecret = false;
if (!process.env.CRON_SECRET) {
  // The platform always sends a secret; the runner does too, so the cron route behaves as deployed.
  process.env.CRON_SECRET = randomBytes(24).toString('base64url');
  generatedSecret = true;
}

const port = Number(process.env.PORT ?? 3000);
try {
  const runner = await startRunner({ root: resolve('.'), port, log: (line) => console.log(line) });
  if (generatedSecret) console.log('  CRON_SECRET was not set: generated one for this run (the crons below send it).');
  const stop = async () => {
    console.log('\nStopping…');
    await runner.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
