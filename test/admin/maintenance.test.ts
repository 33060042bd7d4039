import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { POST } from '../../api/admin/maintenance.js';
import { GET as health } from '../../api/health.js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import { createFlagReader, maintenanceState } from '../../lib/flags-reader.js';
import { adminRequest, ADMIN_TOKEN, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';

const HOUR = 3_600_000;
const inAnHour = () => new Date(Date.now() + HOUR).toISOString();

describe.each(['pg', 'pglite'] as const)('maintenance mode over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  const tokens = new Map<Role, string>();
  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    await useAdminDeps(h.db, r.redis);
    for (const role of ['read', 'operate'] as Role[]) {
      tokens.set(role, (await createToken(h.db, { name: `maint-${role}-${randomBytes(3).toString('hex')}`, role, createdBy: 'tests' })).token);
    }
  });
  beforeEach(async () => {
    await h.db.query(`DELETE FROM opsbook.settings WHERE key = 'maintenance'`);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const set = (body: unknown, role: Role = 'operate') => POST(adminRequest('/api/admin/maintenance', { body, token: tokens.get(role) }));
  const publicHealth = async () => (await health(new Request('http://localhost/api/health'))).json();

  it('turning it on stores {enabled,message,until} and audits it in the same statement', async () => {
    const until = inAnHour();
    const res = await set({ enabled: true, message: 'Back soon: database upgrade.', until });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'maintenance.set', status: 'ok', count: 1 });
    const { rows } = await h.db.query<{ value: unknown }>(`SELECT value FROM opsbook.settings WHERE key = 'maintenance'`);
    expect(rows[0]!.value).toEqual({ enabled: true, message: 'Back soon: database upgrade.', until });
    const audit = await h.db.query<Record<string, unknown>>(`SELECT action, target, result, after FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ action: 'maintenance.set', target: 'maintenance', result: 'ok', after: { enabled: true, until } });
  });

  it('/api/health shows maintenance while it is on (public body: enabled, message, until), and not after it is off', async () => {
    expect(Object.keys(await publicHealth())).not.toContain('maintenance');
    const until = inAnHour();
    await set({ enabled: true, message: 'Scheduled maintenance', until });
    const on = await publicHealth();
    expect(on.maintenance).toEqual({ enabled: true, message: 'Scheduled maintenance', until });
    expect(on).toMatchObject({ status: 'healthy', checks: { database: 'healthy' } });
    const detailed = await (await health(new Request('http://localhost/api/health', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }))).json();
    expect(detailed.maintenance).toEqual({ enabled: true, message: 'Scheduled maintenance', until });
    const off = await set({ enabled: false });
    expect((await off.json()).sample[0].after).toEqual({ enabled: false, message: null, until: null });
    expect(Object.keys(await publicHealth()).sort()).toEqual(['checks', 'status', 'timestamp']);
  });

  it("the app's reader sees it; it ends by itself at `until`", async () => {
    const until = inAnHour();
    await set({ enabled: true, message: 'upgrade', until });
    let clock = Date.now();
    const reader = createFlagReader((sql, params) => h.db.query(sql, params), { cacheMs: 0, now: () => clock });
    expect(await reader.maintenance()).toEqual({ enabled: true, message: 'upgrade', until });
    clock = Date.parse(until);
    expect(await reader.maintenance()).toEqual({ enabled: false, message: null, until: null });
  });

  it('without until it stays on until turned off; a repeat is a no-op', async () => {
    await set({ enabled: true, message: 'm' });
    expect(await (await set({ enabled: true, message: 'm' })).json()).toMatchObject({ status: 'noop', count: 0 });
    const reader = createFlagReader((sql, params) => h.db.query(sql, params), { cacheMs: 0, now: () => Date.now() + 365 * 24 * HOUR });
    expect(await reader.maintenance()).toMatchObject({ enabled: true, until: null });
  });

  it('dry run shows before and after and changes nothing', async () => {
    const body = await (await set({ enabled: true, message: 'x', dryRun: true })).json();
    expect(body).toMatchObject({ status: 'ok', dryRun: true, sample: [{ before: null, after: { enabled: true, message: 'x', until: null } }] });
    const { rows } = await h.db.query(`SELECT 1 FROM opsbook.settings WHERE key = 'maintenance'`);
    expect(rows).toHaveLength(0);
  });

  it('a read token cannot turn it on', async () => {
    expect((await set({ enabled: true }, 'read')).status).toBe(403);
  });

  it.each([
    ['until in the past', { enabled: true, until: '2001-01-01T00:00:00Z' }],
    ['until without a time zone', { enabled: true, until: '2030-01-01T00:00:00' }],
    ['until as a date only', { enabled: true, until: '2030-01-01' }],
    ['until as SQL', { enabled: true, until: "now()'; DROP TABLE opsbook.settings; --" }],
    ['until as a number', { enabled: true, until: 1893456000000 }],
    ['a message over 500 characters', { enabled: true, message: 'x'.repeat(501) }],
    ['an empty message', { enabled: true, message: '' }],
    ['enabled as a string', { enabled: 'true' }],
    ['an unknown field', { enabled: true, page: '/maintenance.html' }],
  ])('%s → 400, nothing stored', async (_what, body) => {
    const res = await set(body);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    const { rows } = await h.db.query(`SELECT 1 FROM opsbook.settings WHERE key = 'maintenance'`);
    expect(rows).toHaveLength(0);
  });

  it.each(["'; DROP TABLE opsbook.settings; --", '<script>alert(1)</script>', '*?[a-z]', '{"enabled":false}', '$1 $2 \\ "'])(
    'a hostile message %j is stored and shown verbatim, as data',
    async (message) => {
      expect((await set({ enabled: true, message })).status).toBe(200);
      expect((await publicHealth()).maintenance.message).toBe(message);
    },
  );
});

describe('maintenanceState', () => {
  const NOW = Date.parse('2030-01-01T12:00:00Z');
  it.each([
    ['no row', undefined, false],
    ['off', { enabled: false, message: 'x', until: null }, false],
    ['on without end', { enabled: true, message: 'x', until: null }, true],
    ['on, ends later', { enabled: true, message: null, until: '2030-01-01T13:00:00.000Z' }, true],
    ['on, ended exactly now', { enabled: true, message: null, until: '2030-01-01T12:00:00.000Z' }, false],
    ['on, ended before', { enabled: true, message: null, until: '2030-01-01T11:00:00.000Z' }, false],
    ['stored as a JSON string', '{"enabled":true,"message":"m","until":null}', true],
    ['not a boolean', { enabled: 'true' }, false],
  ])('%s → enabled %s', (_what, value, enabled) => {
    expect(maintenanceState(value, NOW).enabled).toBe(enabled);
  });
});
