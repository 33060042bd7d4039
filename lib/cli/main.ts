import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { messageOf, OpsbookError } from '../errors.js';
import { didYouMean, flagString, HELP_FLAG, parseCommandArgs, type FlagSpecs, type FlagValues } from './args.js';
import { loadConfigFile } from './config-file.js';
import { configPathFrom } from '../config/file.js';

const RUN_USAGE = `Usage:
  opsbook run <checklist> [--config <path>] [--at <ISO date>] [--dry-run] [--send]
      Run a checklist now, printing progress item by item, then the text report.
      --dry-run   run the checks, store and send nothing
      --send      email the report too (otherwise it is stored, not sent)
      --at        pretend it is this time (UTC), e.g. 2026-12-07T09:00:00Z
      --config    the config file (default: opsbook.config.ts)`;
const CHECK_CONFIG_USAGE = `Usage:
  opsbook check-config [--config <path>]
      Validate the config and list its checks and checklists. Fails too when the vercel.json beside
      the config has crons that differ from the config's schedules.`;
const CRONS_USAGE = `Usage:
  opsbook crons [--config <path>] [--check]
      Write vercel.json's crons (beside the config file) from the config.
      --check     change nothing; exit 1 if they differ (for CI)`;

const HELP = `opsbook — the runbook that runs itself

Usage:
  opsbook run <checklist> [--config <path>] [--at <ISO date>] [--dry-run] [--send]
      Run a checklist now, printing progress item by item, then the text report.
      --dry-run   run the checks, store and send nothing
      --send      email the report too (otherwise it is stored, not sent)
      --at        pretend it is this time (UTC), e.g. 2026-12-07T09:00:00Z
  opsbook check-config [--config <path>]
      Validate the config (and vercel.json's crons against it) and list its checks and checklists.
  opsbook crons [--config <path>] [--check]
      Write vercel.json's crons from the config (--check: fail if they differ).
  opsbook token create --name <name> --role <role> | revoke --name <name> | list
      Manage stored API tokens in the database (the token is printed once).
  opsbook postmortem <incident id>
      Print an incident's post-mortem draft (Markdown): opsbook postmortem 42 > incidents/2026-12-02-db-locks.md
  opsbook admin [<action> [--key value …] [--dry-run] [--yes] [--json] [--url <base>]]
      Call an admin action over HTTP. Without an action: the list.
      An action that changes something is dry-run first and asks before it runs:
      --dry-run   only the dry run       --yes   confirm without asking (needed without a terminal)
  opsbook help [<command>]    this text, or one command's (also: opsbook <command> --help)
  opsbook --version           the installed version

An unknown command or flag, or a flag without its value, exits 2 and does nothing.
Environment: the same variables as the deployment (DATABASE_URL, REDIS_URL, …); see README.md.`;

interface CommandDef {
  flags: FlagSpecs;
  usage: () => Promise<string> | string;
}

const CONFIG_FLAG: FlagSpecs = { config: { type: 'string' } };

/** The commands, and the flags each one takes; `token` and `admin` parse their own (they depend on the subcommand). */
const COMMANDS: Record<string, CommandDef> = {
  run: { flags: { ...CONFIG_FLAG, at: { type: 'string' }, 'dry-run': { type: 'boolean' }, send: { type: 'boolean' }, ...HELP_FLAG }, usage: () => RUN_USAGE },
  'check-config': { flags: { ...CONFIG_FLAG, ...HELP_FLAG }, usage: () => CHECK_CONFIG_USAGE },
  crons: { flags: { ...CONFIG_FLAG, check: { type: 'boolean' }, ...HELP_FLAG }, usage: () => CRONS_USAGE },
  token: { flags: HELP_FLAG, usage: async () => (await import('./token.js')).TOKEN_HELP },
  admin: { flags: HELP_FLAG, usage: async () => (await import('./admin.js')).ADMIN_HELP },
  postmortem: { flags: HELP_FLAG, usage: async () => (await import('./postmortem.js')).POSTMORTEM_USAGE },
  help: { flags: HELP_FLAG, usage: () => HELP },
};
export const COMMAND_NAMES = Object.keys(COMMANDS);

/** The version in package.json, which is what `npx opsbook` installed. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function unknownCommand(command: string): string {
  const hint = didYouMean(command, COMMAND_NAMES);
  return `Unknown command "${command}".${hint ? ` Did you mean "${hint}"?` : ''}\nRun \`opsbook help\` for the commands.`;
}

/** vercel.json lives at the project root, beside opsbook.config.ts. */
function vercelJsonBeside(configPath: string | undefined): string {
  return resolve(dirname(resolve(configPath ?? 'opsbook.config.ts')), 'vercel.json');
}

/** The CLI's commands. Returns the exit code; never throws for an expected failure. */
export async function main(argv: string[], out: (line: string) => void = (l) => console.log(l), err: (line: string) => void = (l) => console.error(l)): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    out(HELP);
    // No command at all is a usage error; asking for help is a success.
    return 2;
  }
  if (command === '--help' || command === '-h') return helpCommand(rest, out, err);
  if (command === '--version' || command === '-v') {
    out(packageVersion());
    return 0;
  }
  if (command.startsWith('-')) {
    const hint = didYouMean(command.replace(/^-+/, ''), ['help', 'version']);
    err(`Unknown flag ${command}: a command comes first (opsbook <command> [flags]).${hint ? ` Did you mean --${hint}?` : ''}\nRun \`opsbook help\` for the commands.`);
    return 2;
  }
  const def = COMMANDS[command];
  if (!def) {
    err(unknownCommand(command));
    return 2;
  }
  if (command === 'help') return helpCommand(rest, out, err);

  // Parse everything before anything is loaded, opened or written: a refused argument does nothing.
  let values: FlagValues = {};
  let positionals: string[] = [];
  if (command !== 'token' && command !== 'admin') {
    const parsed = parseCommandArgs(rest, { command: `opsbook ${command}`, flags: def.flags, positionals: command === 'run' ? { max: 1, name: 'checklist' } : command === 'postmortem' ? { max: 1, name: 'incident id' } : undefined });
    if (!parsed.ok) {
      err(`${parsed.message}\nRun \`opsbook ${command} --help\` for its usage.`);
      return 2;
    }
    if (parsed.values.help) {
      out(await def.usage());
      return 0;
    }
    ({ values, positionals } = parsed);
  }

  if (existsSync('.env') && typeof process.loadEnvFile === 'function') process.loadEnvFile('.env');
  try {
    const configPath = configPathFrom(flagString(values, 'config'));
    switch (command) {
      case 'run': {
        const { runCommand } = await import('./run.js');
        return await runCommand(positionals[0], values, await loadConfigFile(configPath), out);
      }
      case 'check-config': {
        const { checkConfigCommand } = await import('./check-config.js');
        return await checkConfigCommand(await loadConfigFile(configPath), configPath ?? 'opsbook.config.ts', out, { vercelJsonPath: vercelJsonBeside(configPath) });
      }
      case 'crons': {
        const { syncVercelJson } = await import('../checklists/vercel-json.js');
        const path = vercelJsonBeside(configPath);
        if (!existsSync(path)) {
          // Vercel reads vercel.json at the project root, where the deployed opsbook.config.ts also lives.
          err(`No vercel.json at ${path}: it lives beside the deployed opsbook.config.ts, at the project root.`);
          return 1;
        }
        const check = values.check === true;
        const res = await syncVercelJson(path, await loadConfigFile(configPath), { check });
        for (const c of res.crons) out(`${c.path}  "${c.schedule}"`);
        if (check && res.changed) {
          err(`vercel.json crons differ from the config: run \`npm run crons\` and commit vercel.json.${res.drift.length ? `\n  - ${res.drift.join('\n  - ')}` : ''}`);
          return 1;
        }
        out(res.changed ? 'vercel.json updated.' : 'vercel.json is up to date.');
        return 0;
      }
      case 'token': {
        const { tokenCommand } = await import('./token.js');
        return await tokenCommand(rest, out, err);
      }
      case 'admin': {
        const { adminCommand } = await import('./admin.js');
        return await adminCommand(rest, { out, err });
      }
      case 'postmortem': {
        const { postmortemCommand } = await import('./postmortem.js');
        return await postmortemCommand(positionals[0], out, err);
      }
    }
    return 2;
  } catch (e) {
    if (e instanceof OpsbookError) {
      // An unknown checklist (or check) carries the names that do exist: say them, so a typo is fixed at once.
      const known = (e.details as { known?: unknown } | undefined)?.known;
      err(Array.isArray(known) ? `${e.message} Known: ${known.join(', ') || '(none)'}.` : e.message);
    } else err(`opsbook: ${messageOf(e)}`);
    return 1;
  }
}

/** `opsbook help [<command>]`, `opsbook --help`. */
async function helpCommand(rest: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const [topic, ...more] = rest.filter((a) => a !== '--help' && a !== '-h');
  if (topic === undefined) {
    out(HELP);
    return 0;
  }
  const def = COMMANDS[topic];
  if (!def || more.length) {
    err(def ? `opsbook help takes one command, got "${rest.join(' ')}".` : unknownCommand(topic));
    return 2;
  }
  out(await def.usage());
  return 0;
}
