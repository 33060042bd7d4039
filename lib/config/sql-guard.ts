import { LEX_VARIANTS, tokenize, type LexOptions } from '../sql/lexer.js';

/**
 * Config-defined SQL metrics must be one read-only query. This is the early, readable rejection at
 * config load; the real guarantee is that they run in a READ ONLY transaction with a statement_timeout.
 */
const WRITE_WORDS = /\b(insert|update|delete|merge|truncate|alter|drop|create|grant|revoke|copy|call|do|vacuum|analyze|reindex|cluster|lock|set|reset|listen|notify|prepare|execute|refresh|comment|security|discard|load|import)\b/i;

/**
 * Functions whose effects READ ONLY does not stop: they change the session (set_config with
 * is_local=false outlives the transaction on a pooled connection, e.g. statement_timeout = 0), take
 * session locks, signal or stop other backends, reset statistics, consume or create replication slots,
 * reach the server's files, or open other connections (dblink).
 */
const SIDE_EFFECT_FUNCTIONS =
  /\b(set_config|pg_(try_)?advisory_\w+|pg_(cancel|terminate)_backend|pg_reload_conf|pg_rotate_logfile\w*|pg_switch_(wal|xlog)|pg_create_restore_point|pg_promote|pg_wal_replay_\w+|pg_stat_\w*reset\w*|pg_stat_statements_reset|pg_(create|drop|copy)_\w*replication_slot|pg_replication_slot_advance|pg_logical_slot_get_\w+|pg_logical_emit_message|pg_replication_origin_\w+|pg_notify|pg_read_(binary_)?file|pg_ls_\w+|pg_stat_file|pg_file_\w+|lo_import|lo_export|dblink\w*|pg_log_backend_memory_contexts)\s*\(/i;

interface Scanned {
  /** Literals, comments and quoted identifiers replaced, keeping the structure. */
  bare: string;
  /** The same, but quoted identifiers unquoted, to find a function called by its quoted name. */
  names: string;
  unicodeIdentifier: boolean;
}

/**
 * One pass with Postgres's lexical rules (lib/sql/lexer.ts, shared with the query-text normaliser):
 * literals and bodies become '', comments a space, quoted identifiers "x" (unquoted in `names`).
 */
function scan(sql: string, lex: LexOptions): Scanned {
  let bare = '';
  let names = '';
  let unicodeIdentifier = false;
  for (const t of tokenize(sql, lex)) {
    let b = t.text;
    let nm = t.text;
    if (t.kind === 'string' || t.kind === 'dollar') b = nm = "''";
    else if (t.kind === 'comment') b = nm = ' ';
    else if (t.kind === 'uident') {
      unicodeIdentifier = true;
      b = nm = '"x"';
    } else if (t.kind === 'ident') {
      b = '"x"';
      nm = t.name ?? '';
    }
    bare += b;
    names += nm;
  }
  return { bare, names, unicodeIdentifier };
}

/** Remove string literals, quoted identifiers, dollar-quoted bodies and comments, keeping the structure. */
export function stripSqlNoise(sql: string): string {
  return scan(sql, { numbers: 'legacy' }).bare;
}

function problemOf(s: Scanned): string | undefined {
  const bare = s.bare.trim().replace(/;\s*$/, '');
  if (!bare) return 'is empty';
  if (bare.includes(';')) return 'must be a single statement';
  if (!/^(select|with)\b/i.test(bare)) return 'must start with SELECT or WITH';
  const word = bare.match(WRITE_WORDS);
  if (word) return `must be read-only (found "${word[1]!.toUpperCase()}")`;
  if (/\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b/i.test(bare)) return 'must not take row locks (FOR UPDATE/SHARE)';
  if (/\binto\b/i.test(bare)) return 'must not use SELECT … INTO';
  if (s.unicodeIdentifier) return 'must not use U&"…" identifiers';
  const fn = s.names.match(SIDE_EFFECT_FUNCTIONS);
  if (fn) return `must not call ${fn[1]!.toLowerCase()}(): its effect is not stopped by a read-only transaction`;
  return undefined;
}

/**
 * Why the SQL is not a single read-only SELECT/WITH, or undefined when it is. The text is read both
 * with and without backslash escapes in strings (standard_conforming_strings on and off), and with
 * PostgreSQL 16's numbers and older ones', so it cannot mean one thing to this guard and another to
 * the server.
 */
export function readOnlyProblem(sql: string): string | undefined {
  // Older servers' readings first: their messages are the ones this guard has always given.
  for (const lex of [...LEX_VARIANTS.filter((v) => v.numbers === 'legacy'), ...LEX_VARIANTS.filter((v) => v.numbers !== 'legacy')]) {
    const problem = problemOf(scan(sql, lex));
    if (problem) return problem;
  }
  return undefined;
}
