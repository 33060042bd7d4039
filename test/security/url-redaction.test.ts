// Issue 10, "Credentials in check URLs": a check URL's credential-named parameters and its userinfo never
// reach diagnostics, stored reports or the outbox; the other parameters stay readable.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET } from '../../api/diagnostics.js';
import { runChecklist } from '../../lib/checklists/run.js';
import { latestReport } from '../../lib/checklists/reports.js';
import { isCredentialParam, redactUrl, redactText, urlSecrets } from '../../lib/checks/net/redact.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { createDeps, setDeps } from '../../lib/deps.js';
import { createOutboxSender } from '../../lib/email/outbox.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { ADMIN_TOKEN } from '../support/admin.js';
import { recordingReporter } from '../support/checklists.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';
import { json, startHttp, type TestHttpServer } from '../support/net/http.js';

describe('redactUrl', () => {
  it.each([
    ['an apikey parameter', 'https://api.example.com/v1/health?apikey=CANARY&x=1', 'https://api.example.com/v1/health?apikey=[redacted]&x=1'],
    ['userinfo', 'https://u:CANARYPW@api.example.com/health', 'https://api.example.com/health'],
    ['a user without a password', 'https://deploy@api.example.com/', 'https://api.example.com/'],
    ['names in any case and spelling', 'https://h/?API_KEY=a&X-Api-Key=b&accessToken=c&client_secret=d&Signature=e&sig=f&pwd=g&passwd=h&auth=i&Authorization=j&credential=k&sessionid=l&x=1', 'https://h/?API_KEY=[redacted]&X-Api-Key=[redacted]&accessToken=[redacted]&client_secret=[redacted]&Signature=[redacted]&sig=[redacted]&pwd=[redacted]&passwd=[redacted]&auth=[redacted]&Authorization=[redacted]&credential=[redacted]&sessionid=[redacted]&x=1'],
    ['a token in the fragment', 'https://h/cb#access_token=CANARY&state=1', 'https://h/cb#access_token=[redacted]&state=1'],
    ['an encoded name', 'https://h/?api%5Fkey=CANARY&page=2', 'https://h/?api%5Fkey=[redacted]&page=2'],
    ['nothing to redact', 'https://h/status?page=2&limit=10', 'https://h/status?page=2&limit=10'],
    ['a bare host gets its slash, as before', 'https://status.example.com', 'https://status.example.com/'],
    ['text that is not a URL', 'fetch failed for http//h?token=CANARY&x=1', 'fetch failed for http//h?token=[redacted]&x=1'],
  ])('%s', (_name, input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  it.each(['key', 'apikey', 'api_key', 'token', 'access_token', 'secret', 'password', 'passwd', 'pwd', 'signature', 'sig', 'auth', 'authorization', 'credential', 'session', 'X-Amz-Signature', 'refreshToken'])(
    '%s → a credential name',
    (name) => expect(isCredentialParam(name)).toBe(true),
  );
  it.each(['x', 'page', 'limit', 'q', 'region', 'format'])('%s → shown', (name) => expect(isCredentialParam(name)).toBe(false));

  it('an error quoting the URL, encoded or not → its credentials are redacted by urlSecrets', () => {
    const url = 'https://u:p%40ss-CANARY@h/?token=tok%2BCANARY&x=1';
    const message = `request to https://h/?token=tok%2BCANARY failed; auth p@ss-CANARY; decoded tok+CANARY`;
    expect(redactText(message, urlSecrets(url))).not.toContain('CANARY');
  });
});

describe('check URLs with credentials through diagnostics, a checklist report and the outbox', () => {
  const RUN = randomBytes(4).toString('hex');
  const KEY = `CANARYKEY${RUN}`;
  const PW = `CANARYPW${RUN}`;
  const TOK = `CANARYTOK${RUN}`;
  const CHECKLIST = `url-redaction-${RUN}`;
  let h: DbHarness;
  let server: TestHttpServer;
  let dataDir: string;
  let config: OpsbookConfigInput;
  const logs: string[] = [];
  const errors = recordingReporter();

  beforeAll(async () => {
    h = await openDb('pg');
    // Every answer is a failure, so the URL shows in details and hints, not only in the title.
    server = await startHttp((_req, res) => json(res, { ok: false }, 503));
    const closed = await closedPort();
    config = {
      service: 'UrlRedactionTest',
      recipients: ['oncall@example.com'],
      checks: {
        http: [
          { id: 'keyed', url: `${server.url}/health?apikey=${KEY}&x=1` },
          { id: 'userinfo', url: `http://u:${PW}@127.0.0.1:${new URL(server.url).port}/health?x=1` },
          { id: 'down', url: `http://127.0.0.1:${closed}/health?access_token=${TOK}&x=1`, retries: 0 },
        ],
      },
      checklists: [
        { id: CHECKLIST, title: 'URLs', schedule: { type: 'daily', at: '09:00' }, items: [{ check: 'http.keyed' }, { check: 'http.userinfo' }, { check: 'http.down' }] },
      ],
    };
    dataDir = mkdtempSync(join(tmpdir(), 'opsbook-urlredact-'));
    const log = (level: string, message: string) => void logs.push(`${level} ${message}`);
    const deps = await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN_TOKEN }), {
      db: h.db,
      redis: createMemoryRedis(),
      email: createOutboxSender(dataDir, (m) => logs.push(m)),
      errors,
      log,
    });
    setDeps(deps);
    setConfig(parseConfig(config));
  });

  afterAll(async () => {
    setDeps(undefined);
    setConfig(undefined);
    rmSync(dataDir, { recursive: true, force: true });
    await Promise.allSettled([h.close(), server.close()]);
  });

  const leaks = (out: string) => [KEY, PW, TOK].filter((c) => out.includes(c));

  it('diagnostics JSON and text → no key, password or token; x=1 still shown', async () => {
    const get = (q: string) => GET(new Request(`http://localhost/api/diagnostics?only=http${q}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
    const res = await get('');
    expect(res.status).toBe(200);
    const body = await res.text();
    const text = await (await get('&format=text')).text();
    for (const out of [body, text]) {
      expect(leaks(out)).toEqual([]);
      expect(out).toContain('x=1');
    }
    const checks = JSON.parse(body).checks as Array<{ id: string; title: string; details?: Array<{ url?: string }> }>;
    expect(checks.find((c) => c.id === 'http.keyed')?.details?.[0]?.url).toBe(`${server.url}/health?apikey=[redacted]&x=1`);
    expect(checks.find((c) => c.id === 'http.userinfo')?.title).toBe(`GET http://127.0.0.1:${new URL(server.url).port}/health?x=1`);
  });

  it('a checklist run → its stored report, the outbox email, every stored row, logs and Sentry hold none of them', async () => {
    const now = new Date();
    now.setUTCHours(9, 5, 0, 0);
    const deps = await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN_TOKEN }), {
      db: h.db,
      redis: createMemoryRedis(),
      email: createOutboxSender(dataDir, (m) => logs.push(m)),
      errors,
      log: (level, message) => void logs.push(`${level} ${message}`),
    });
    const result = await runChecklist(deps, parseConfig(config), CHECKLIST, now, { mode: 'manual', send: true });
    expect(result.status).toBe('completed');
    const report = await latestReport(h.db, CHECKLIST);
    const outbox = readdirSync(join(dataDir, 'outbox')).map((f) => readFileSync(join(dataDir, 'outbox', f), 'utf8'));
    expect(outbox.length).toBeGreaterThan(0);
    const { rows: tables } = await h.db.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'opsbook'`);
    const stored: string[] = [];
    for (const { t } of tables) stored.push(...(await h.db.query<{ row: string }>(`SELECT r::text AS row FROM opsbook."${t}" r`)).rows.map((x) => x.row));
    for (const out of [report.html, report.text, outbox.join('\n'), stored.join('\n'), logs.join('\n'), JSON.stringify(errors.calls)]) expect(leaks(out)).toEqual([]);
    expect(report.text).toContain('x=1');
  });
});
