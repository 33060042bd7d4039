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

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CONT = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * One left-to-right pass with Postgres's lexical rules: '…' strings ('' escapes; backslash escapes in
 * E'…' strings, and in every string when `backslashQuotes`, as with standard_conforming_strings off),
 * "…" identifiers, $tag$…$tag$ bodies, -- comments and nested /* … *\/ comments. Regex replacements
 * applied one kind after the other cannot do this: a quote inside a comment (or an escaped quote) would
 * pair with a later one and hide the statements in between.
 */
function scan(sql: string, backslashQuotes: boolean): Scanned {
  let bare = '';
  let names = '';
  let unicodeIdentifier = false;
  const emit = (b: string, n = b) => {
    bare += b;
    names += n;
  };
  const n = sql.length;
  /** End of a '…' string starting at `start` (the quote). */
  const stringEnd = (start: number, backslash: boolean) => {
    let i = start + 1;
    while (i < n) {
      const c = sql[i]!;
      if (backslash && c === '\\') i += 2;
      else if (c === "'") {
        if (sql[i + 1] === "'") i += 2;
        else return i + 1;
      } else i++;
    }
    return n;
  };
  const identEnd = (start: number) => {
    let i = start + 1;
    while (i < n) {
      if (sql[i] === '"') {
        if (sql[i + 1] === '"') i += 2;
        else return i + 1;
      } else i++;
    }
    return n;
  };
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_CONT.test(sql[j]!)) j++;
      const word = sql.slice(i, j);
      if (sql[j] === "'" && /^[eEbBxXnN]$/.test(word)) {
        i = stringEnd(j, backslashQuotes || /^[eE]$/.test(word));
        emit("''");
      } else if (/^[uU]$/.test(word) && sql[j] === '&' && sql[j + 1] === "'") {
        i = stringEnd(j + 1, backslashQuotes);
        emit("''");
      } else if (/^[uU]$/.test(word) && sql[j] === '&' && sql[j + 1] === '"') {
        unicodeIdentifier = true;
        i = identEnd(j + 1);
        emit('"x"');
      } else {
        emit(word);
        i = j;
      }
    } else if (c === "'") {
      i = stringEnd(i, backslashQuotes);
      emit("''");
    } else if (c === '"') {
      const end = identEnd(i);
      emit('"x"', sql.slice(i + 1, end - 1).replace(/""/g, '"'));
      i = end;
    } else if (c === '-' && next === '-') {
      // Like Postgres, a line comment ends at a carriage return too.
      let j = i + 2;
      while (j < n && sql[j] !== '\n' && sql[j] !== '\r') j++;
      i = j;
      emit(' ');
    } else if (c === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      i = j;
      emit(' ');
    } else if (c === '$' && !/[0-9]/.test(next ?? '')) {
      const tag = sql.slice(i).match(DOLLAR_TAG)?.[0];
      if (tag) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end === -1 ? n : end + tag.length;
        emit("''");
      } else {
        emit(c);
        i++;
      }
    } else {
      emit(c);
      i++;
    }
  }
  return { bare, names, unicodeIdentifier };
}

/** Remove string literals, quoted identifiers, dollar-quoted bodies and comments, keeping the structure. */
export function stripSqlNoise(sql: string): string {
  return scan(sql, false).bare;
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
 * with and without backslash escapes in strings (standard_conforming_strings on and off), so it cannot
 * mean one thing to this guard and another to the server.
 */
export function readOnlyProblem(sql: string): string | undefined {
  return problemOf(scan(sql, false)) ?? problemOf(scan(sql, true));
}
