/**
 * Every connection Opsbook opens to Postgres says so in `application_name`: `opsbook`, or
 * `opsbook/<role>` for a pool with a purpose of its own. /api/admin/db/terminate refuses every session
 * named so, from this instance or any other (a second serverless instance, the CLI), so an operate token
 * cannot cut Opsbook's own pool connections from under it.
 */
export const OPSBOOK_APPLICATION_NAME = 'opsbook';

/** `opsbook` for no role, `opsbook/<role>` for a role; a name already starting with `opsbook` is kept. */
export function opsbookApplicationName(role?: string): string {
  if (!role) return OPSBOOK_APPLICATION_NAME;
  return isOpsbookApplicationName(role) ? role : `${OPSBOOK_APPLICATION_NAME}/${role}`;
}

export function isOpsbookApplicationName(name: string | null | undefined): boolean {
  return name === OPSBOOK_APPLICATION_NAME || (typeof name === 'string' && name.startsWith(`${OPSBOOK_APPLICATION_NAME}/`));
}

/** The same test in SQL, on a pg_stat_activity row aliased `alias`. */
export function opsbookSessionSql(alias = 'a'): string {
  return `(${alias}.application_name = '${OPSBOOK_APPLICATION_NAME}' OR ${alias}.application_name LIKE '${OPSBOOK_APPLICATION_NAME}/%')`;
}

/**
 * The connection string with `application_name` set to `name`. A DATABASE_URL's own `application_name`
 * would otherwise win (node-postgres lets the URL override its options; Neon's proxy passes every query
 * parameter on as a startup parameter), and the session would no longer be recognisable as Opsbook's.
 * A string that is not a URL is returned as it is.
 */
export function withApplicationName(url: string, name: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  u.searchParams.set('application_name', name);
  return u.toString();
}
