import { parseArgs as nodeParseArgs } from 'node:util';
import { didYouMean } from '../did-you-mean.js';

/**
 * The CLI's argument parsing: `node:util` parseArgs in strict mode, one set of flags per command, so a
 * typo (`--dryrun`, `--chek`, `--confg x`) is refused before anything runs instead of being ignored.
 * Failures are data (`{ ok: false, message }`) that the caller prints with exit code 2.
 */
export type FlagType = 'string' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  /** A one-letter alias, e.g. `h` for `--help`. */
  short?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | boolean | undefined>;

export type ParseResult = { ok: true; values: FlagValues; positionals: string[] } | { ok: false; message: string };

export interface ParseOptions {
  /** The command as the user typed it, for messages: "opsbook run". */
  command: string;
  flags: FlagSpecs;
  /** How many positionals the command takes. @default { min: 0, max: 0 } */
  positionals?: { min?: number; max?: number; name?: string };
}

/** `--help` / `-h` on every command. */
export const HELP_FLAG: FlagSpecs = { help: { type: 'boolean', short: 'h' } };

/**
 * Parse one command's arguments. Every flag must be one the command knows, a string flag needs a value
 * (the next argument may not itself be a flag), a boolean flag takes none, and no flag is given twice.
 */
export function parseCommandArgs(argv: string[], opts: ParseOptions): ParseResult {
  const { command, flags } = opts;
  const options = Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, f.short ? { type: f.type, short: f.short } : { type: f.type }]));
  // A lenient pass first, only to name the offending token precisely; the strict pass below is the gate.
  const loose = nodeParseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const seen = new Set<string>();
  for (const token of loose.tokens ?? []) {
    if (token.kind !== 'option') continue;
    const spec = flags[token.name];
    if (!spec) {
      const hint = didYouMean(token.name, Object.keys(flags));
      return { ok: false, message: `Unknown flag ${token.rawName} for ${command}.${hint ? ` Did you mean --${hint}?` : ''}` };
    }
    if (spec.type === 'string' && (token.value === undefined || (!token.inlineValue && token.value.startsWith('-')))) {
      return { ok: false, message: `${token.rawName} needs a value: ${token.rawName} <value> (or ${token.rawName}=<value>).` };
    }
    if (spec.type === 'boolean' && token.inlineValue) {
      return { ok: false, message: `${token.rawName} takes no value (got "${token.value}").` };
    }
    if (seen.has(token.name)) return { ok: false, message: `--${token.name} is given more than once.` };
    seen.add(token.name);
  }
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = nodeParseArgs({ args: argv, options, strict: true, allowPositionals: true }) as { values: FlagValues; positionals: string[] };
  } catch (err) {
    return { ok: false, message: `${command}: ${(err as Error).message}` };
  }
  const { min = 0, max = 0, name = 'argument' } = opts.positionals ?? {};
  if (!parsed.values.help) {
    if (parsed.positionals.length > max) {
      const extra = parsed.positionals.slice(max);
      return { ok: false, message: `${command} takes ${max === 0 ? 'no arguments' : `at most ${max} ${name}${max > 1 ? 's' : ''}`}, but got ${extra.map((p) => `"${p}"`).join(', ')}.` };
    }
    if (parsed.positionals.length < min) return { ok: false, message: `${command} needs a ${name}.` };
  }
  return { ok: true, values: parsed.values, positionals: parsed.positionals };
}

// The one did-you-mean rule, shared with the config's unknown keys (lib/config/unknown-keys.ts).
export { didYouMean, editDistance } from '../did-you-mean.js';

export function flagString(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}
