import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { messageOf, OpsbookError } from '../errors.js';
import { flagString, parseArgs } from './args.js';
import { loadConfigFile } from './config-file.js';

const HELP = `opsbook — the runbook that runs itself

Usage:
  opsbook run <checklist> [--config <path>] [--at <ISO date>] [--dry-run] [--send]
      Run a checklist now, printing progress item by item, then the text report.
      --dry-run   run the checks, store and send nothing
      --send      email the report too (otherwise it is stored, not sent)
      --at        pretend it is this time (UTC), e.g. 2026-12-07T09:00:00Z
  opsbook check-config [--config <path>]
      Validate the config and list its checks and checklists.
  opsbook crons [--config <path>] [--check]
      Write vercel.json's crons from the config (--check: fail if they differ).
  opsbook token create --name <name> --role <role> | revoke --name <name> | list
      Manage stored API tokens in the database (the token is printed once).
  opsbook admin [<action> [--key value …] [--yes] [--url <base>]]
      Call an admin action over HTTP: dry run, confirm, run. Without an action: the list.

Environment: the same variables as the deployment (DATABASE_URL, REDIS_URL, …); see README.md.`;

/** The CLI's commands. Returns the exit code; never throws for an expected failure. */
export async function main(argv: string[], out: (line: string) => void = (l) => console.log(l), err: (line: string) => void = (l) => console.error(l)): Promise<number> {
  const args = parseArgs(argv);
  const [command, ...rest] = args.positionals;
  if (!command || args.flags.help) {
    out(HELP);
    // Asking for help is a success; no command at all is a usage error.
    return args.flags.help ? 0 : 2;
  }
  if (existsSync('.env') && typeof process.loadEnvFile === 'function') process.loadEnvFile('.env');
  try {
    const configPath = flagString(args, 'config');
    switch (command) {
      case 'run': {
        const { runCommand } = await import('./run.js');
        return await runCommand(rest, args, await loadConfigFile(configPath), out);
      }
      case 'check-config': {
        const { checkConfigCommand } = await import('./check-config.js');
        return await checkConfigCommand(await loadConfigFile(configPath), configPath ?? 'opsbook.config.ts', out);
      }
      case 'crons': {
        const { syncVercelJson } = await import('../checklists/vercel-json.js');
        const res = await syncVercelJson(resolve('vercel.json'), await loadConfigFile(configPath), { check: args.flags.check === true });
        for (const c of res.crons) out(`${c.path}  "${c.schedule}"`);
        if (args.flags.check && res.changed) {
          err('vercel.json crons differ from the config: run `npm run crons` and commit vercel.json.');
          return 1;
        }
        out(res.changed ? 'vercel.json updated.' : 'vercel.json is up to date.');
        return 0;
      }
      case 'token': {
        const { tokenCommand } = await import('./token.js');
        return await tokenCommand(rest, args, out, err);
      }
      case 'admin': {
        const { adminCommand } = await import('./admin.js');
        return await adminCommand(rest, args, { out, err });
      }
      default:
        err(`Unknown command "${command}".\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof OpsbookError) {
      // An unknown checklist (or check) carries the names that do exist: say them, so a typo is fixed at once.
      const known = (e.details as { known?: unknown } | undefined)?.known;
      err(Array.isArray(known) ? `${e.message} Known: ${known.join(', ') || '(none)'}.` : e.message);
    } else err(`opsbook: ${messageOf(e)}`);
    return 1;
  }
}
