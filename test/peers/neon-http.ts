/**
 * A local stand-in for Neon's serverless HTTP endpoint (`POST /sql`), in front of a real Postgres.
 *
 * Tests and benchmarks point the unmodified `neon()` client from @neondatabase/serverless at it with
 * `neonConfig.fetchEndpoint`, so the driver's own request building, header handling, result parsing and
 * error mapping are exercised exactly as against Neon. The wire contract reproduced here:
 *
 * Request: `POST /sql`, JSON body `{query, params, arrayMode?}` for one statement or
 * `{queries: [{query, params, arrayMode?}, …]}` for a batch that runs in one transaction. Headers:
 * `Neon-Connection-String` (who to connect as, and to which database), `Neon-Raw-Text-Output` and
 * `Neon-Array-Mode` (only the exact value "true" counts), and for batches `Neon-Batch-Isolation-Level`
 * (ReadUncommitted | ReadCommitted | RepeatableRead | Serializable), `Neon-Batch-Read-Only`,
 * `Neon-Batch-Deferrable`. The driver may add `Authorization: Bearer <jwt>`; the peer accepts and ignores
 * it, because the upstream here authenticates by the connection string's credentials.
 *
 * Response 200: `{command, rowCount, rowAsArray, fields: [{name, dataTypeID, tableID, columnID,
 * dataTypeSize, dataTypeModifier, format: "text"}], rows}`, or `{results: [that, …]}` for a batch.
 *
 * Errors: a statement that Postgres rejects answers HTTP 400 with `{message, code, severity, detail, hint,
 * position, internalPosition, internalQuery, where, schema, table, column, dataType, constraint, file,
 * line, routine}` (absent fields null, code/severity "" when there is no SQLSTATE). The driver turns only a
 * 400 into a NeonDbError carrying those fields; any other status becomes a generic "Server error".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { CustomTypesConfig, FieldDef, PoolClient, QueryArrayConfig, QueryArrayResult } from 'pg';

export interface NeonPeerOptions {
  /**
   * Real Postgres to forward to, e.g. postgres://postgres@127.0.0.1:5432/postgres. The user, password and
   * database from the client's Neon-Connection-String header are used to connect; only host and port are
   * replaced by this upstream's.
   */
  upstream: string;
  /** Extra latency added to every HTTP request, in ms. @default 0 */
  latencyMs?: number;
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
}

export interface NeonPeer {
  /** Value for neonConfig.fetchEndpoint / the fetchEndpoint option: http://127.0.0.1:PORT/sql */
  readonly fetchEndpoint: string;
  /**
   * A Neon-style connection string that the driver accepts (host like ep-local-peer.localtest.neon.tech is
   * fine; it is never resolved since fetchEndpoint points here), for the given database and user.
   */
  connectionString(database: string, user?: string, password?: string): string;
  /** Number of HTTP /sql requests served (round trips), for benchmarks and tests. */
  readonly requests: number;
  resetCount(): void;
  /**
   * Make every following request answer with this HTTP status and a JSON error body (simulates an outage);
   * null restores normal service.
   */
  setFault(status: number | null): void;
  close(): Promise<void>;
}

/** The host name put in connection strings. It is never resolved: the driver sends to fetchEndpoint. */
/** One host per peer (by port), so clients of two peers in one process can be told apart by host. */
const peerHost = (port: number) => `ep-local-peer-${port}.localtest.neon.tech`;
/** Neon caps request bodies too; a runaway test payload should fail loudly rather than eat memory. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Upstream connections per (user, password, database): tests are small and the machine has two cores. */
const POOL_MAX = 4;

/** Every type comes back as the text Postgres sent, so the JSON carries exactly what Neon would relay. */
const RAW_TEXT_TYPES: CustomTypesConfig = { getTypeParser: () => (value: string) => value };

const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: 'READ UNCOMMITTED',
  ReadCommitted: 'READ COMMITTED',
  RepeatableRead: 'REPEATABLE READ',
  Serializable: 'SERIALIZABLE',
};

// Type OIDs whose text form Neon converts to a JSON non-string when raw text output is off.
const OID = { bool: 16, int2: 21, int4: 23, float4: 700, float8: 701, json: 114, jsonb: 3802, text: 25 } as const;

/**
 * Built-in array types and their element types, for the non-raw output mode. Neon decodes any array into a
 * JSON array; elements that are not bool/int2/int4/float/json stay strings, so those all map to text here.
 * Arrays of user-defined types are not listed and come back as their Postgres text, a known gap.
 */
const ARRAY_ELEMENT_OID = new Map<number, number>([
  [1000, OID.bool], [1005, OID.int2], [1007, OID.int4], [1021, OID.float4], [1022, OID.float8],
  [199, OID.json], [3807, OID.jsonb],
  // bytea, char, name, text, bpchar, varchar, int8, oid, timestamp, date, time, timestamptz, interval,
  // numeric, timetz, uuid, inet, cidr, macaddr, bit, varbit, money, xml
  ...[1001, 1002, 1003, 1009, 1014, 1015, 1016, 1028, 1115, 1182, 1183, 1185, 1187, 1231, 1270, 2951, 1041, 651,
    1040, 1561, 1563, 791, 143].map((oid): [number, number] => [oid, OID.text]),
]);

/** One statement as the driver sends it. */
interface StatementData {
  query: string;
  params: (string | null)[];
  arrayMode: boolean | undefined;
}

type Payload = { kind: 'single'; statement: StatementData } | { kind: 'batch'; statements: StatementData[] };

interface RequestHeaders {
  credentials: Credentials;
  rawOutput: boolean;
  arrayMode: boolean;
  isolationLevel: string | undefined;
  readOnly: boolean;
  deferrable: boolean;
}

interface Credentials {
  user: string;
  password: string | undefined;
  database: string;
}

interface QueryOutput {
  command: string;
  rowCount: number | null;
  rowAsArray: boolean;
  fields: {
    name: string;
    dataTypeID: number;
    tableID: number;
    columnID: number;
    dataTypeSize: number;
    dataTypeModifier: number;
    format: 'text';
  }[];
  rows: unknown[];
}

/** An answer that is not a 200: the status and the body Neon would send with it. */
class HttpFailure extends Error {
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(String(body.message));
  }
}

/** Neon's error body: every key present, null where Postgres gave nothing, so clients can rely on the shape. */
function errorBody(message: string, db?: pg.DatabaseError): Record<string, unknown> {
  return {
    message,
    code: db?.code ?? '',
    detail: db?.detail ?? null,
    hint: db?.hint ?? null,
    position: db?.position ?? null,
    internalPosition: db?.internalPosition ?? null,
    internalQuery: db?.internalQuery ?? null,
    severity: db?.severity ?? '',
    where: db?.where ?? null,
    table: db?.table ?? null,
    column: db?.column ?? null,
    schema: db?.schema ?? null,
    dataType: db?.dataType ?? null,
    constraint: db?.constraint ?? null,
    file: db?.file ?? null,
    line: db?.line ?? null,
    routine: db?.routine ?? null,
  };
}

/** Maps an error from running SQL to the answer Neon gives: 400 with the Postgres fields. */
function queryFailure(err: unknown): HttpFailure {
  if (err instanceof HttpFailure) return err;
  if (err instanceof pg.DatabaseError) return new HttpFailure(400, errorBody(err.message, err));
  return new HttpFailure(400, errorBody(err instanceof Error ? err.message : String(err)));
}

/**
 * Maps an error from connecting upstream. Postgres refusing the login or the database is the caller's
 * fault (400, with SQLSTATE such as 28P01 or 3D000); failing to reach Postgres at all is ours (500).
 */
function connectFailure(err: unknown): HttpFailure {
  if (err instanceof pg.DatabaseError) return new HttpFailure(400, errorBody(err.message, err));
  const message = err instanceof Error ? err.message : String(err);
  return new HttpFailure(500, errorBody(`Couldn't connect to compute node: ${message}`));
}

function badRequest(message: string): HttpFailure {
  return new HttpFailure(400, errorBody(message));
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Neon treats only the exact value "true" as on; anything else, including "TRUE", is off. */
function flag(req: http.IncomingMessage, name: string): boolean {
  return header(req, name) === 'true';
}

function parseHeaders(req: http.IncomingMessage): RequestHeaders {
  const connectionString = header(req, 'Neon-Connection-String');
  if (!connectionString) throw badRequest('missing connection string');
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw badRequest('connection string is not a valid URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw badRequest('connection string must start with postgres: or postgresql:');
  }
  const user = decodeURIComponent(url.username);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!user) throw badRequest('connection string has no user');
  if (!database) throw badRequest('connection string has no database');
  const password = url.password ? decodeURIComponent(url.password) : undefined;

  const isolationHeader = header(req, 'Neon-Batch-Isolation-Level');
  let isolationLevel: string | undefined;
  if (isolationHeader !== undefined) {
    isolationLevel = ISOLATION_LEVELS[isolationHeader];
    // Neon rejects an unknown level for every request, not only batches, before touching the database.
    if (!isolationLevel) throw badRequest('invalid isolation level');
  }

  return {
    credentials: { user, password, database },
    rawOutput: flag(req, 'Neon-Raw-Text-Output'),
    arrayMode: flag(req, 'Neon-Array-Mode'),
    isolationLevel,
    readOnly: flag(req, 'Neon-Batch-Read-Only'),
    deferrable: flag(req, 'Neon-Batch-Deferrable'),
  };
}

/**
 * Neon accepts any JSON value as a parameter and sends Postgres its text form: strings as they are,
 * numbers, booleans and objects as JSON, arrays as Postgres array literals. The driver already sends
 * strings and nulls, but other clients (and curl) rely on the rest.
 */
function paramToText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return arrayLiteral(value);
  return JSON.stringify(value);
}

/** Inside an array literal strings must be quoted and escaped; JSON string syntax is what Neon uses. */
function arrayLiteral(items: unknown[]): string {
  const parts = items.map((item): string => {
    if (item === null || item === undefined) return 'NULL';
    if (Array.isArray(item)) return arrayLiteral(item);
    if (typeof item === 'object') return JSON.stringify(JSON.stringify(item));
    return JSON.stringify(item);
  });
  return `{${parts.join(',')}}`;
}

function parseStatement(value: unknown): StatementData | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { query, params, arrayMode } = value as Record<string, unknown>;
  if (typeof query !== 'string') return undefined;
  if (params !== undefined && !Array.isArray(params)) return undefined;
  if (arrayMode !== undefined && typeof arrayMode !== 'boolean') return undefined;
  return { query, params: (params ?? []).map(paramToText), arrayMode };
}

function parsePayload(body: string): Payload {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
  // Like Neon, try the single-statement shape first and fall back to the batch shape.
  const statement = parseStatement(json);
  if (statement) return { kind: 'single', statement };
  const queries = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).queries : undefined;
  if (Array.isArray(queries)) {
    const statements = queries.map(parseStatement);
    if (statements.every((s): s is StatementData => s !== undefined)) return { kind: 'batch', statements };
  }
  throw badRequest('request body must be {query, params} or {queries: [{query, params}, ...]}');
}

/** Postgres's text for an array, decoded into nested JS arrays with elements converted as Neon does. */
function parseArrayText(text: string, elementOid: number): unknown[] {
  let pos = 0;
  // Arrays with non-default bounds print as "[1:2]={...}"; JSON cannot carry bounds, so drop them.
  if (text.startsWith('[')) {
    const eq = text.indexOf('=');
    if (eq < 0) throw new Error('unbalanced array');
    pos = eq + 1;
  }
  while (text[pos] === ' ') pos++;

  const parseList = (): unknown[] => {
    if (text[pos] !== '{') throw new Error('unbalanced array');
    pos++;
    const out: unknown[] = [];
    if (text[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      while (text[pos] === ' ') pos++;
      if (text[pos] === '{') {
        out.push(parseList());
      } else if (text[pos] === '"') {
        pos++;
        let item = '';
        while (pos < text.length && text[pos] !== '"') {
          if (text[pos] === '\\') pos++;
          item += text[pos] ?? '';
          pos++;
        }
        if (pos >= text.length) throw new Error('unbalanced quoted string');
        pos++;
        // A quoted NULL is the string "NULL", not a null.
        out.push(textToJson(item, elementOid));
      } else {
        let end = pos;
        while (end < text.length && text[end] !== ',' && text[end] !== '}') end++;
        if (end >= text.length) throw new Error('unbalanced array');
        const item = text.slice(pos, end).trimEnd();
        pos = end;
        out.push(item === 'NULL' ? null : textToJson(item, elementOid));
      }
      while (text[pos] === ' ') pos++;
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] !== '}') throw new Error('unbalanced array');
      pos++;
      return out;
    }
  };

  const result = parseList();
  while (text[pos] === ' ') pos++;
  if (pos !== text.length) throw new Error('unbalanced array');
  return result;
}

/**
 * Neon's output when raw text is off: booleans, int2/int4 and finite floats become JSON scalars, json and
 * jsonb are embedded as JSON, arrays become JSON arrays, everything else (int8 and numeric included, so no
 * precision is lost) stays a string.
 */
function textToJson(text: string, oid: number): unknown {
  const elementOid = ARRAY_ELEMENT_OID.get(oid);
  if (elementOid !== undefined) return parseArrayText(text, elementOid);
  switch (oid) {
    case OID.bool:
      return text === 't';
    case OID.int2:
    case OID.int4:
      return Number.parseInt(text, 10);
    case OID.float4:
    case OID.float8: {
      const n = Number(text);
      // JSON has no NaN or Infinity; keep Postgres's spelling rather than degrade to null.
      return Number.isFinite(n) ? n : text;
    }
    case OID.json:
    case OID.jsonb:
      return JSON.parse(text);
    default:
      return text;
  }
}

/** Shapes one pg result (rows as arrays of raw text) into Neon's JSON for one statement. */
function toOutput(result: QueryArrayResult, rawOutput: boolean, arrayMode: boolean): QueryOutput {
  // pg leaves fields empty for statements without a row description; Neon always sends the key.
  const fieldDefs: FieldDef[] = result.fields ?? [];
  const convert = (value: unknown, field: FieldDef): unknown => {
    // NULL stays null in every mode: it is never text.
    if (value === null || value === undefined) return null;
    if (rawOutput) return value;
    try {
      return textToJson(String(value), field.dataTypeID);
    } catch {
      throw new HttpFailure(500, errorBody('could not parse postgres response'));
    }
  };
  const rows = result.rows.map((row) => {
    const values = fieldDefs.map((field, i) => convert(row[i], field));
    if (arrayMode) return values;
    // Duplicate column names collapse to the last one, as they do when the driver parses Neon's JSON.
    const object: Record<string, unknown> = {};
    fieldDefs.forEach((field, i) => {
      object[field.name] = values[i];
    });
    return object;
  });
  return {
    // pg splits the command tag the same way Neon does: "INSERT 0 2" → INSERT/2, "CREATE TABLE" → CREATE/null.
    command: result.command ?? '',
    rowCount: result.rowCount ?? null,
    rowAsArray: arrayMode,
    fields: fieldDefs.map((f) => ({
      name: f.name,
      dataTypeID: f.dataTypeID,
      tableID: f.tableID,
      columnID: f.columnID,
      dataTypeSize: f.dataTypeSize,
      dataTypeModifier: f.dataTypeModifier,
      format: 'text',
    })),
    rows,
  };
}

async function runStatement(client: PoolClient, statement: StatementData, headers: RequestHeaders): Promise<QueryOutput> {
  // Neon always uses the extended protocol (one unnamed prepared statement), so a query string holding two
  // statements fails with 42601 there; pg would use the simple protocol for parameterless queries and
  // quietly run both, so force extended to keep that difference visible in tests.
  const config: QueryArrayConfig & { queryMode: 'extended' } = {
    text: statement.query,
    values: statement.params,
    rowMode: 'array',
    types: RAW_TEXT_TYPES,
    queryMode: 'extended',
  };
  const result = await client.query(config);
  return toOutput(result, headers.rawOutput, statement.arrayMode ?? headers.arrayMode);
}

function beginStatement(headers: RequestHeaders): string {
  const modes: string[] = [];
  if (headers.isolationLevel) modes.push(`ISOLATION LEVEL ${headers.isolationLevel}`);
  if (headers.readOnly) modes.push('READ ONLY');
  if (headers.deferrable) modes.push('DEFERRABLE');
  return modes.length > 0 ? `BEGIN ${modes.join(', ')}` : 'BEGIN';
}

function poolKey(c: Credentials): string {
  return JSON.stringify([c.user, c.password ?? null, c.database]);
}

export async function startNeonPeer(opts: NeonPeerOptions): Promise<NeonPeer> {
  const upstream = new URL(opts.upstream);
  const upstreamHost = decodeURIComponent(upstream.hostname) || '127.0.0.1';
  const upstreamPort = upstream.port ? Number(upstream.port) : 5432;
  const latencyMs = opts.latencyMs ?? 0;

  const pools = new Map<string, pg.Pool>();
  // Handlers still running, so close() can wait for them to hand their clients back before ending pools.
  const inFlight = new Set<Promise<void>>();
  let requests = 0;
  let fault: number | null = null;
  let closing = false;

  function upstreamConfig(c: Credentials): pg.ClientConfig {
    return { host: upstreamHost, port: upstreamPort, user: c.user, password: c.password, database: c.database };
  }

  function poolFor(c: Credentials): pg.Pool {
    const key = poolKey(c);
    let pool = pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        ...upstreamConfig(c),
        max: POOL_MAX,
        idleTimeoutMillis: 5_000,
        connectionTimeoutMillis: 5_000,
        application_name: 'neon-http-peer',
        // An idle peer must never keep a test process alive.
        allowExitOnIdle: true,
      });
      // An idle connection killed upstream (DROP DATABASE … FORCE, a restart) must not crash the process;
      // the pool drops it and the next request connects afresh.
      pool.on('error', () => undefined);
      // A connection killed while a request holds it (pg_terminate_backend, a restart) fails that request's
      // statement, which answers it; the client's own 'error' event must not crash the process too.
      pool.on('connect', (client) => client.on('error', () => undefined));
      pools.set(key, pool);
    }
    return pool;
  }

  /**
   * The HTTP client went away mid-query (fetch aborted by a timeout). Neon cancels the running statement so
   * it stops holding locks; do the same through a separate connection, as Postgres's cancel protocol needs.
   */
  async function cancelBackend(c: Credentials, pid: number): Promise<void> {
    const canceller = new pg.Client({ ...upstreamConfig(c), connectionTimeoutMillis: 2_000 });
    try {
      await canceller.connect();
      await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch {
      // Best effort: the statement may already have finished.
    } finally {
      await canceller.end().catch(() => undefined);
    }
  }

  function send(res: http.ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
    if (res.destroyed || res.writableEnded) return;
    const json = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(json),
      // Neon answers browsers too; keep the header so CORS-sensitive callers see the same thing.
      'Access-Control-Allow-Origin': '*',
      ...extraHeaders,
    });
    res.end(json);
  }

  async function readBody(req: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new HttpFailure(413, errorBody(`request is too large (max is ${MAX_BODY_BYTES} bytes)`));
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handleSql(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    requests++;
    let clientGone = false;
    let activeClient: { client: PoolClient; credentials: Credentials } | undefined;
    const cancels: Promise<void>[] = [];
    res.on('close', () => {
      if (res.writableEnded) return;
      clientGone = true;
      if (activeClient) {
        const pid = (activeClient.client as unknown as { processID: number | null }).processID;
        if (pid) cancels.push(cancelBackend(activeClient.credentials, pid));
      }
    });

    const body = await readBody(req);
    if (latencyMs > 0) await sleep(latencyMs);
    if (fault !== null) {
      throw new HttpFailure(fault, errorBody(`simulated outage: the peer is answering HTTP ${fault}`));
    }
    if (clientGone) return;

    const headers = parseHeaders(req);
    const payload = parsePayload(body);

    let client: PoolClient;
    try {
      client = await poolFor(headers.credentials).connect();
    } catch (err) {
      throw connectFailure(err);
    }
    activeClient = { client, credentials: headers.credentials };
    // Like Neon, a connection that saw an error or was left inside a transaction is not reused.
    let discard = false;
    try {
      if (payload.kind === 'single') {
        let output: QueryOutput;
        try {
          output = await runStatement(client, payload.statement, headers);
        } catch (err) {
          discard = true;
          throw queryFailure(err);
        }
        if (client.getTransactionStatus() !== 'I') discard = true;
        send(res, 200, output);
        return;
      }

      try {
        await client.query(beginStatement(headers));
      } catch (err) {
        discard = true;
        throw queryFailure(err);
      }
      const results: QueryOutput[] = [];
      try {
        for (const statement of payload.statements) results.push(await runStatement(client, statement, headers));
      } catch (err) {
        // Nothing of a failed batch may persist.
        await client.query('ROLLBACK').catch(() => {
          discard = true;
        });
        if (clientGone) discard = true;
        throw queryFailure(err);
      }
      try {
        await client.query('COMMIT');
      } catch (err) {
        // A failed COMMIT (serialization failure, deferred constraint) leaves the session state unknown.
        discard = true;
        throw queryFailure(err);
      }
      // Neon echoes the transaction options it applied.
      const echoed: Record<string, string> = {};
      if (headers.readOnly) echoed['Neon-Batch-Read-Only'] = 'true';
      if (headers.deferrable) echoed['Neon-Batch-Deferrable'] = 'true';
      const level = header(req, 'Neon-Batch-Isolation-Level');
      if (level !== undefined) echoed['Neon-Batch-Isolation-Level'] = level;
      send(res, 200, { results }, echoed);
    } finally {
      activeClient = undefined;
      // Wait for any cancel so it cannot hit the next statement that reuses this backend.
      await Promise.all(cancels);
      client.release(discard || clientGone ? true : undefined);
    }
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/sql') {
      send(res, 404, errorBody('not found'));
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': '*',
      });
      res.end();
      return;
    }
    if (req.method !== 'POST') {
      send(res, 405, errorBody('method not allowed'), { Allow: 'POST, OPTIONS' });
      return;
    }
    const work = handleSql(req, res)
      .catch((err: unknown) => {
        const failure = err instanceof HttpFailure ? err : new HttpFailure(500, errorBody(`internal error: ${String(err)}`));
        send(res, failure.status, failure.body);
      })
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  }

  const server = http.createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    fetchEndpoint: `http://127.0.0.1:${port}/sql`,
    connectionString(database: string, user = 'postgres', password?: string): string {
      const auth = password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
      return `postgresql://${auth}@${peerHost(port)}/${encodeURIComponent(database)}`;
    },
    get requests() {
      return requests;
    },
    resetCount() {
      requests = 0;
    },
    setFault(status: number | null) {
      if (status !== null && (!Number.isInteger(status) || status < 100 || status > 599)) {
        throw new RangeError(`not an HTTP status: ${status}`);
      }
      fault = status;
    },
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets from fetch would otherwise hold server.close() open until they time out.
      server.closeAllConnections();
      await closed;
      await Promise.allSettled([...inFlight]);
      await Promise.all([...pools.values()].map((pool) => pool.end().catch(() => undefined)));
      pools.clear();
    },
  };
}
