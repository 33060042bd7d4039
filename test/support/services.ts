/**
 * The real services the suite runs against. `.ci/run` starts them when they are down; override the
 * addresses with TEST_DATABASE_URL / TEST_REDIS_URL to use others.
 */
export const PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The same Postgres with another database name. */
export function pgUrlFor(database: string, user?: string, password?: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  if (user) u.username = user;
  if (password !== undefined) u.password = password;
  return u.toString();
}

/**
 * The same Redis, another logical database: for a file whose requests all come from 127.0.0.1 and must
 * not share its per-address rate-limit windows with files running beside it (the secrets walk sends
 * hundreds of requests from that address).
 */
export function redisUrlFor(db: number): string {
  const u = new URL(REDIS_URL);
  u.pathname = `/${db}`;
  return u.toString();
}
