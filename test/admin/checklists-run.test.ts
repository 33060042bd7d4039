import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST } from '../../api/admin/checklists/run.js';
import { vercelCrons } from '../../cron/index.js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import { isDue, nextRun, previousRun } from '../../lib/checklists/schedule.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';

const CONFIG: OpsbookConfigInput = {
  recipients: ['ops@example.com'],
  checks: { redis: { enabled: false }, queues: { enabled: false } },
  checklists: [
    { id: 'daily', title: 'Daily', schedule: { type: 'daily', at: '09:00' }, items: [{ check: 'postgres.reachable' }] },
    { id: 'post-deploy', title: 'Post-deploy verification', schedule: { type: 'manual' }, notify: 'always', items: [{ check: 'postgres.reachable' }, { manual: 'Smoke-test the sign-in page' }] },
  ],
};

describe('a manual checklist', () => {
  const config = parseConfig(CONFIG);
  const manual = config.checklists.find((c) => c.id === 'post-deploy')!.schedule;
  it('has no vercel.json cron, is never due, and has no previous or next run (so it is never missed)', () => {
    expect(vercelCrons(config).map((c) => c.path)).toEqual(['/api/cron/daily']);
    const now = new Date('2026-12-02T09:30:00Z');
    expect(isDue(manual, now)).toMatchObject({ due: false, reason: expect.stringContaining('runs on demand only') });
    expect(previousRun(manual, now)).toBeUndefined();
    expect(nextRun(manual, now)).toBeUndefined();
  });
});

describe.each(['pg', 'pglite'] as const)('POST /api/admin/checklists/run over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  const tokens = new Map<Role, string>();
  const actor = new Map<Role, string>();

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    await useAdminDeps(h.db, r.redis, CONFIG);
    for (const role of ['read', 'operate'] as Role[]) {
      const name = `run-${role}-${randomBytes(3).toString('hex')}`;
      actor.set(role, name);
      tokens.set(role, (await createToken(h.db, { name, role, createdBy: 'tests' })).token);
    }
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const run = (body: unknown, role: Role = 'operate', headers: Record<string, string> = {}) => POST(adminRequest('/api/admin/checklists/run', { body, token: tokens.get(role), headers }));
  const runs = async () => (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.job_runs WHERE job = 'post-deploy'`)).rows[0]!.n;
  const reports = async () => (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.reports r JOIN opsbook.job_runs j ON j.id = r.run_id WHERE j.job = 'post-deploy'`)).rows[0]!.n;

  it('the dry run runs the items and stores and sends nothing', async () => {
    const before = await runs();
    const res = await run({ checklist: 'post-deploy', dryRun: true });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'checklists.run', status: 'ok', dryRun: true, summary: expect.stringMatching(/^Dry run of post-deploy: .*emails the report to 1 recipient/) });
    expect(body.data.text).toContain('postgres.reachable');
    expect(await runs()).toBe(before);
  });

  it('operate runs it: a run of its own is stored, the report goes out, and the audit row names the actor', async () => {
    const [runsBefore, reportsBefore] = [await runs(), await reports()];
    const res = await run({ checklist: 'post-deploy' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'checklists.run', status: 'ok', dryRun: false, summary: expect.stringMatching(/^Ran post-deploy: /) });
    expect(body.data.delivery).not.toBe('dry-run');
    expect(await runs()).toBe(runsBefore + 1);
    expect(await reports()).toBe(reportsBefore + 1);
    const audit = await h.db.query<Record<string, any>>(`SELECT actor, role, action, target, result, after FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ actor: actor.get('operate'), role: 'operate', action: 'checklists.run', target: 'checklist:post-deploy', result: 'ok' });
    expect(audit.rows[0]!.after.runId).toBe(body.data.runId);
  });

  it('the same Idempotency-Key twice (a deploy hook retrying) → one run, and the first answer replayed', async () => {
    const before = await runs();
    const key = `deploy-${randomBytes(4).toString('hex')}`;
    const first = await run({ checklist: 'post-deploy' }, 'operate', { 'idempotency-key': key });
    const again = await run({ checklist: 'post-deploy' }, 'operate', { 'idempotency-key': key });
    expect(again.headers.get('idempotent-replayed'), `${again.status} ${await again.clone().text()}`).toBe('true');
    expect((await again.json()).data.runId).toBe((await first.json()).data.runId);
    expect(await runs()).toBe(before + 1);
  });

  it.each([
    ['a read token → 403, nothing run', { checklist: 'post-deploy' }, 'read' as Role, 403, /operate role/],
    ['an unknown checklist → 404 naming the known ones', { checklist: 'post-deplyo' }, 'operate' as Role, 404, /No checklist named "post-deplyo"/],
    ['a misspelled key → 400', { checklst: 'post-deploy' }, 'operate' as Role, 400, /checklst/],
  ])('%s', async (_name, body, role, status, message) => {
    const before = await runs();
    const res = await run(body, role);
    expect(res.status).toBe(status);
    expect((await res.json()).error.message).toMatch(message);
    expect(await runs()).toBe(before);
  });
});
