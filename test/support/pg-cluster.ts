// A throwaway PostgreSQL cluster for the suite: initdb in a temp folder, started on a free port with the
// settings the suite needs, stopped and deleted at the end. Used when the configured Postgres lacks what
// the suite needs (pg_stat_statements preloaded, a superuser), so `npm test` passes on a fresh machine
// without anyone reconfiguring or restarting the system server.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres, trust auth. */
  url: string;
  dir: string;
  port: number;
  stop(): Promise<void>;
}

export interface PgClusterOptions {
  /** Preload pg_stat_statements, as the suite needs. @default true */
  pgStatStatements?: boolean;
  /** Where progress goes. @default console.log */
  log?: (line: string) => void;
}

/** The newest PostgreSQL server binaries on this machine (Debian's layout, or pg_config's). */
export function findPgBin(): string {
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => existsSync(join(debian, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(debian, versions[0], 'bin');
  }
  try {
    const bin = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(bin, 'initdb'))) return bin;
  } catch {
    // no pg_config: fall through to the clear error
  }
  throw new Error('No PostgreSQL server binaries (initdb) found: install PostgreSQL (Debian: apt-get install postgresql) or set TEST_DATABASE_URL to a server with pg_stat_statements preloaded.');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** initdb refuses to run as root: as root, the cluster belongs to `nobody`. */
function runAs(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function run(cmd: string, args: string[], user: { uid: number; gid: number } | undefined, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.slice(-2000)}`))));
  });
}

/**
 * Start a throwaway cluster and answer its URL. The caller stops it; a cluster left by a killed run is
 * removed by the next one (see removeStaleClusters).
 * @example const pg = await startPgCluster(); process.env.TEST_DATABASE_URL = pg.url; … await pg.stop();
 */
export async function startPgCluster(opts: PgClusterOptions = {}): Promise<PgCluster> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const bin = findPgBin();
  removeStaleClusters();
  const dir = mkdtempSync(join(tmpdir(), 'opsbook-pg-'));
  const data = join(dir, 'data');
  const user = runAs();
  if (user) chownSync(dir, user.uid, user.gid);
  const port = await freePort();
  log(`[test] starting a throwaway PostgreSQL (${bin.split('/').slice(-2, -1)[0] ?? ''}) in ${dir} on port ${port}${user ? ' as nobody' : ''}…`);
  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], user, dir);
    await startServer(bin, data, dir, port, user, opts);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return handle(bin, data, dir, port, user);
}

/**
 * A hot standby of `primary` (a cluster from startPgCluster), streaming from it: pg_basebackup -R, then
 * its own server on a free port. For checks that behave differently on a replica.
 */
export async function startStandby(primary: PgCluster, opts: PgClusterOptions = {}): Promise<PgCluster> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const bin = findPgBin();
  const dir = mkdtempSync(join(tmpdir(), 'opsbook-pg-'));
  const data = join(dir, 'data');
  const user = runAs();
  if (user) chownSync(dir, user.uid, user.gid);
  const port = await freePort();
  log(`[test] starting a standby of port ${primary.port} in ${dir} on port ${port}…`);
  try {
    await run(join(bin, 'pg_basebackup'), ['-D', data, '-R', '-X', 'stream', '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '--no-sync'], user, dir);
    await startServer(bin, data, dir, port, user, opts);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return handle(bin, data, dir, port, user);
}

async function startServer(bin: string, data: string, dir: string, port: number, user: { uid: number; gid: number } | undefined, opts: PgClusterOptions): Promise<void> {
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses='127.0.0.1'",
    '-c max_connections=200',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    ...(opts.pgStatStatements === false ? [] : ['-c shared_preload_libraries=pg_stat_statements']),
  ].join(' ');
  await run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-o', settings, '-w', '-t', '120', 'start'], user, dir);
}

function handle(bin: string, data: string, dir: string, port: number, user: { uid: number; gid: number } | undefined): PgCluster {
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], user, dir).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Clusters of runs that were killed: their postmaster is gone. */
function removeStaleClusters(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('opsbook-pg-')) continue;
    const dir = join(tmpdir(), name);
    try {
      const pidFile = join(dir, 'data', 'postmaster.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
      const alive = pid > 0 && isAlive(pid);
      // Ten minutes: a cluster another run is creating right now has no postmaster yet.
      const old = Date.now() - statSync(dir).mtimeMs > 10 * 60_000;
      if (!alive && old) rmSync(dir, { recursive: true, force: true });
    } catch {
      // another run's folder being created or removed right now
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why this Postgres cannot serve the suite (or the benchmarks), or undefined when it can. */
export async function postgresProblem(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ s: string; su: boolean }>(
      "SELECT current_setting('shared_preload_libraries') AS s, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su",
    );
    if (!rows[0]?.s.split(',').map((x) => x.trim()).includes('pg_stat_statements')) return 'pg_stat_statements is not in shared_preload_libraries';
    if (!rows[0]?.su) return 'its user is not a superuser (the suite creates databases and roles)';
    return undefined;
  } catch (err) {
    return `not reachable (${(err as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}
