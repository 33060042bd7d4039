/**
 * Config-defined SQL metrics must be one read-only query. This is the early, readable rejection at
 * config load; the real guarantee is that they run in a READ ONLY transaction with a statement_timeout.
 */
const WRITE_WORDS = /\b(insert|update|delete|merge|truncate|alter|drop|create|grant|revoke|copy|call|do|vacuum|analyze|reindex|cluster|lock|set|reset|listen|notify|prepare|execute|refresh|comment|security|discard|load|import)\b/i;

/** Remove string literals, quoted identifiers, dollar-quoted bodies and comments, keeping the structure. */
export function stripSqlNoise(sql: string): string {
  return sql
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "''")
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"]|"")*"/g, '"x"')
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ');
}

/** Why the SQL is not a single read-only SELECT/WITH, or undefined when it is. */
export function readOnlyProblem(sql: string): string | undefined {
  const bare = stripSqlNoise(sql).trim().replace(/;\s*$/, '');
  if (!bare) return 'is empty';
  if (bare.includes(';')) return 'must be a single statement';
  if (!/^(select|with)\b/i.test(bare)) return 'must start with SELECT or WITH';
  const word = bare.match(WRITE_WORDS);
  if (word) return `must be read-only (found "${word[1]!.toUpperCase()}")`;
  if (/\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b/i.test(bare)) return 'must not take row locks (FOR UPDATE/SHARE)';
  if (/\binto\b/i.test(bare)) return 'must not use SELECT … INTO';
  return undefined;
}
