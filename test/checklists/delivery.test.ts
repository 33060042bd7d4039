// Report delivery (lib/checklists/delivery.ts) over every database driver: a report that Resend refuses
// stays in the outbox table and goes out on the next invocation, with the same idempotency key; a
// pending report is claimed by exactly one sender; no recipients is said plainly; with no Resend key
// the report lands as files in the outbox folder.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverPending } from '../../lib/checklists/delivery.js';
import { runChecklistJob } from '../../cron/checklist.js';
import { runChecklist, type ChecklistRunResult } from '../../lib/checklists/run.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { ensureSchema, schemaStatements } from '../../lib/db/schema.js';
import type { DbDriver } from '../../lib/db/types.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import type { ErrorReporter } from '../../lib/sentry.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { openChecklistHarness, recordingReporter, type ChecklistHarness } from '../support/checklists.js';

const RESEND_KEY = 're_test_delivery_key_0123456789';
const MIN = 60_000;
/** Monday 2 March 2026, 09:00 UTC. */
const MON = new Date('2026-03-02T09:00:00Z');
const at = (minutes: number, base = MON) => new Date(base.getTime() + minutes * MIN);


type Completed = Extract<ChecklistRunResult, { status: 'completed' }>;
function completed(r: ChecklistRunResult): Completed {
  if (r.status !== 'completed') throw new Error(`expected a completed run, got ${JSON.stringify(r)}`);
  return r;
}

/** A daily checklist `<id>` and a first-Monday one (`<id>-monthly`), both of manual items only. */
function configFor(id: string, recipients: string[] = ['oncall@example.com']): OpsbookConfig {
  return parseConfig({
    service: 'DeliveryTest',
    recipients,
    checklists: [
      { id, title: 'Morning', schedule: { type: 'daily', at: '09:00' }, items: [{ manual: 'Look at the dashboards' }] },
      { id: `${id}-monthly`, title: 'Monthly', schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '09:00' }, items: [{ manual: 'Review costs' }] },
    ],
  });
}

interface ReportRow {
  id: string;
  delivery: string;
  last_error: string | null;
  attempts: number;
  idempotency_key: string;
  message_id: string | null;
  sent_at: unknown;
  claimed_until: unknown;
}

describe.each<DbDriver>(['pg', 'neon', 'pglite'])('report delivery on %s', (driver) => {
  let h: DbHarness;
  let sink: ResendSink;
  let deps: Deps;
  let errors: ReturnType<typeof recordingReporter>;

  let harness: ChecklistHarness;

  beforeAll(async () => {
    harness = await openChecklistHarness(driver, RESEND_KEY);
    ({ h, sink, deps, errors } = harness);
  });
  afterAll(async () => {
    await harness.close();
  });
  beforeEach(() => {
    sink.clear();
    sink.setFault(null);
    errors.calls.length = 0;
  });

  const reportOf = async (checklist: string): Promise<ReportRow> => {
    const { rows } = await h.db.query<ReportRow>(
      'SELECT id, delivery, last_error, attempts, idempotency_key, message_id, sent_at, claimed_until FROM opsbook.reports WHERE checklist = $1',
      [checklist],
    );
    expect(rows).toHaveLength(1);
    return { ...rows[0]!, attempts: Number(rows[0]!.attempts) };
  };
  const pendingCount = async () => Number((await h.db.query<{ n: string }>(`SELECT count(*) AS n FROM opsbook.reports WHERE delivery = 'pending'`)).rows[0]!.n);

  it.each([
    [500, 'internal_server_error'],
    [429, 'rate_limit_exceeded'],
  ])('Resend answers %i → the run completes, the report stays pending with the error, the error is captured; the next invocation (a checklist not due) resends it with the same Idempotency-Key', async (status, name) => {
    const id = `fault-${status}-${driver}`;
    const config = configFor(id);
    sink.setFault(status, 1);

    const run = completed(await runChecklist(deps, config, id, at(0)));
    expect(run.report).toMatchObject({ delivery: 'pending', error: `Resend did not accept the email (${status}: ${name})` });
    expect(sink.requests).toBe(1);
    expect(sink.emails).toHaveLength(0);
    const pending = await reportOf(id);
    expect(pending).toMatchObject({ delivery: 'pending', last_error: `Resend did not accept the email (${status}: ${name})`, attempts: 1, message_id: null, sent_at: null, claimed_until: null });
    expect(errors.calls).toEqual([{ kind: 'exception', text: expect.stringContaining(String(status)), tags: { checklist: id, stage: 'report-delivery' } }]);
    const runRow = (await h.db.query<{ status: string }>('SELECT status FROM opsbook.job_runs WHERE id = $1', [run.runId])).rows[0]!;
    expect(runRow.status).toBe('ok');

    // A different checklist, not due today (Tuesday): it still sends what is pending first.
    const next = await runChecklist(deps, config, `${id}-monthly`, at(24 * 60));
    expect(next).toMatchObject({ status: 'not-due', resent: 1 });
    expect(sink.emails).toHaveLength(1);
    expect(sink.emails[0]).toMatchObject({ idempotencyKey: pending.idempotency_key, subject: run.report.subject, to: ['oncall@example.com'] });
    expect(pending.idempotency_key).toMatch(new RegExp(`^opsbook:deliverytest:local:[0-9a-f]{16}:${id}:2026-03-02$`));
    const sent = await reportOf(id);
    expect(sent).toMatchObject({ delivery: 'sent', last_error: null, attempts: 2, message_id: sink.emails[0]!.id, claimed_until: null });
    expect(new Date(sent.sent_at as string).toISOString()).toBe(at(24 * 60).toISOString());

    // Sent is final: later invocations send nothing more.
    expect(await deliverPending(deps, config, at(25 * 60))).toEqual({ sent: 0, failed: 0 });
    expect(sink.requests).toBe(2);
  });

  it('a report sent again after its "sent" mark was lost → Resend gets the same Idempotency-Key and delivers no second email', async () => {
    const id = `replay-${driver}`;
    const config = configFor(id);
    const run = completed(await runChecklist(deps, config, id, at(0)));
    expect(run.report.delivery).toBe('sent');
    // As if the process died between Resend's answer and the UPDATE: the row is pending again.
    await h.db.query(`UPDATE opsbook.reports SET delivery = 'pending', sent_at = NULL WHERE checklist = $1`, [id]);
    expect(await deliverPending(deps, config, at(10))).toEqual({ sent: 1, failed: 0 });
    expect(sink.requests).toBe(2);
    expect(sink.emails).toHaveLength(1);
    expect((await reportOf(id)).delivery).toBe('sent');
  });

  it('still failing on the next invocation → stays pending, counts the attempt, and is captured again', async () => {
    const id = `twice-${driver}`;
    const config = configFor(id);
    sink.setFault(500, 2);
    completed(await runChecklist(deps, config, id, at(0)));
    expect(await deliverPending(deps, config, at(60))).toEqual({ sent: 0, failed: 1 });
    expect(await reportOf(id)).toMatchObject({ delivery: 'pending', attempts: 2, last_error: expect.stringContaining('500') });
    expect(errors.calls.filter((c) => c.kind === 'exception')).toHaveLength(2);
    expect(await deliverPending(deps, config, at(120))).toEqual({ sent: 1, failed: 0 });
    expect(await reportOf(id)).toMatchObject({ delivery: 'sent', attempts: 3 });
    expect(sink.emails).toHaveLength(1);
  });

  it('two concurrent deliverPending calls → the pending report is claimed once and sent once', async () => {
    const id = `race-${driver}`;
    const config = configFor(id);
    sink.setFault(500, 1);
    completed(await runChecklist(deps, config, id, at(0)));
    expect(await pendingCount()).toBe(1);
    sink.clear();

    const results = await Promise.all([deliverPending(deps, config, at(5)), deliverPending(deps, config, at(5))]);
    expect(results.reduce((n, r) => n + r.sent, 0)).toBe(1);
    expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
    // One HTTP request: the idempotency key is the second line of defence, not the first.
    expect(sink.requests).toBe(1);
    expect(sink.emails).toHaveLength(1);
    expect(await reportOf(id)).toMatchObject({ delivery: 'sent', attempts: 2 });
  });

  it('Resend down with three reports pending → one send attempt per invocation (the run is not held up by hopeless sends), the rest stay pending unclaimed', async () => {
    const ids = [`down-a-${driver}`, `down-b-${driver}`, `down-c-${driver}`];
    sink.setFault(500);
    for (const id of ids) completed(await runChecklist(deps, configFor(id), id, at(0)));
    expect(await pendingCount()).toBe(3);
    sink.clear();

    const attempts = async () => {
      const { rows } = await h.db.query<{ checklist: string; attempts: number; claimed_until: unknown }>(
        `SELECT checklist, attempts, claimed_until FROM opsbook.reports WHERE checklist = ANY($1::text[])`,
        [ids],
      );
      expect(rows.map((r) => r.claimed_until)).toEqual([null, null, null]);
      return ids.map((id) => Number(rows.find((r) => r.checklist === id)!.attempts));
    };
    // Least tried first, oldest first among equals.
    const byPriority = (tries: number[]) => ids.map((id, i) => ({ id, i, n: tries[i]! })).sort((a, b) => a.n - b.n || a.i - b.i).map((x) => x.id);
    const before = await attempts();

    expect(await deliverPending(deps, configFor(ids[0]!), at(10))).toEqual({ sent: 0, failed: 1 });
    expect(sink.requests).toBe(1);
    // Only the first in line was tried; the others were not claimed, so nothing waits for a claim to expire.
    const first = byPriority(before)[0]!;
    const afterFailure = await attempts();
    expect(afterFailure).toEqual(before.map((n, i) => (ids[i] === first ? n + 1 : n)));

    // Resend is back: the next invocation sends all three, the least-tried first.
    sink.setFault(null);
    sink.clear();
    expect(await deliverPending(deps, configFor(ids[0]!), at(20))).toEqual({ sent: 3, failed: 0 });
    expect(sink.emails.map((e) => e.headers?.['X-Opsbook-Checklist'])).toEqual(byPriority(afterFailure));
  });

  it('a claim left by a sender that crashed → not retried while it lasts, retried once it expires', async () => {
    const id = `crashed-${driver}`;
    const config = configFor(id);
    sink.setFault(500, 1);
    completed(await runChecklist(deps, config, id, at(0)));
    // The crashed sender had claimed it for two minutes from 09:10.
    await h.db.query(`UPDATE opsbook.reports SET claimed_until = $2 WHERE checklist = $1`, [id, at(12).toISOString()]);
    sink.clear();
    expect(await deliverPending(deps, config, at(11))).toEqual({ sent: 0, failed: 0 });
    expect(sink.requests).toBe(0);
    expect(await deliverPending(deps, config, at(13))).toEqual({ sent: 1, failed: 0 });
    expect(sink.emails).toHaveLength(1);
  });

  it('Resend with no recipients (none in the config, OPSBOOK_EMAIL_TO unset) → not-needed with the reason; nothing sent or left pending', async () => {
    const id = `no-recipients-${driver}`;
    const run = completed(await runChecklist(deps, configFor(id, []), id, at(0)));
    expect(run.report).toMatchObject({ delivery: 'not-needed', error: 'no recipients configured' });
    expect(await reportOf(id)).toMatchObject({ delivery: 'not-needed', last_error: 'no recipients configured' });
    expect(sink.requests).toBe(0);
    expect(await pendingCount()).toBe(0);
  });

  it.each([
    [422, 'validation_error'],
    [403, 'invalid_api_key'],
  ])('Resend refuses for good (%i %s) on every cron invocation → pending for three attempts, then failed, with exactly one Sentry event; never sent again', async (status, name) => {
    const id = `refused-${status}-${driver}`;
    const config = configFor(id);
    sink.setFault(status);
    const mine = () => errors.calls.filter((c) => c.tags?.checklist === id);

    const run = completed(await runChecklistJob(deps, config, id, at(0)));
    expect(run.report).toMatchObject({ delivery: 'pending', error: `Resend did not accept the email (${status}: ${name})` });
    // The first refusal is the one event: whoever can fix the key or the sender hears of it at once.
    expect(mine()).toEqual([{ kind: 'exception', text: expect.stringContaining(name), tags: { checklist: id, stage: 'report-delivery', refusal: name } }]);
    expect(await reportOf(id)).toMatchObject({ delivery: 'pending', attempts: 1 });

    // The monthly checklist's cron on the next days (not due): each invocation tries once more.
    const next = await runChecklistJob(deps, config, `${id}-monthly`, at(24 * 60));
    expect(next).toMatchObject({ status: 'not-due' });
    expect(await reportOf(id)).toMatchObject({ delivery: 'pending', attempts: 2 });
    await runChecklistJob(deps, config, `${id}-monthly`, at(48 * 60));
    expect(await reportOf(id)).toMatchObject({ delivery: 'failed', attempts: 3, last_error: `Resend did not accept the email (${status}: ${name})`, claimed_until: null });

    const requests = sink.requests;
    await runChecklistJob(deps, config, `${id}-monthly`, at(72 * 60));
    expect(await deliverPending(deps, config, at(73 * 60))).toEqual({ sent: 0, failed: 0 });
    expect(sink.requests).toBe(requests);
    expect(await reportOf(id)).toMatchObject({ delivery: 'failed', attempts: 3 });
    expect(mine()).toHaveLength(1);
    expect(sink.emails).toHaveLength(0);
  });

  it.each([429, 500])('Resend answers %i on four cron invocations in a row → still pending (retried on the next), never failed; sent once Resend is back', async (status) => {
    const id = `transient-${status}-${driver}`;
    const config = configFor(id);
    sink.setFault(status);
    completed(await runChecklistJob(deps, config, id, at(0)));
    for (let day = 1; day <= 3; day++) await runChecklistJob(deps, config, `${id}-monthly`, at(day * 24 * 60));
    expect(await reportOf(id)).toMatchObject({ delivery: 'pending', attempts: 4 });
    sink.setFault(null);
    await runChecklistJob(deps, config, `${id}-monthly`, at(4 * 24 * 60));
    expect(await reportOf(id)).toMatchObject({ delivery: 'sent', attempts: 5 });
    expect(sink.emails).toHaveLength(1);
  });

  it('Resend with recipients only in OPSBOOK_EMAIL_TO → sent to them', async () => {
    const id = `env-recipients-${driver}`;
    const localDeps = { ...deps, env: parseEnv({ RESEND_API_KEY: RESEND_KEY, OPSBOOK_EMAIL_TO: 'lead@example.com, ops@example.com' }) };
    const run = completed(await runChecklist(localDeps, configFor(id, []), id, at(0)));
    expect(run.report.delivery).toBe('sent');
    expect(sink.emails.map((e) => e.to)).toEqual([['lead@example.com', 'ops@example.com']]);
  });
});

describe('the outbox sender (no RESEND_API_KEY)', () => {
  let h: DbHarness;
  let dataDir: string;
  beforeAll(async () => {
    [h, dataDir] = await Promise.all([openDb('pg'), mkdtemp(join(tmpdir(), 'opsbook-outbox-'))]);
  });
  afterAll(async () => {
    await Promise.allSettled([h.close(), rm(dataDir, { recursive: true, force: true })]);
  });

  it('a run writes the report as .html, .txt and .json under OPSBOOK_DATA_DIR/outbox and marks it sent', async () => {
    const deps = await createDeps(parseEnv({ OPSBOOK_DATA_DIR: dataDir }), { db: h.db, redis: createMemoryRedis(), errors: recordingReporter(), log: () => undefined });
    expect(deps.email.kind).toBe('outbox');
    const id = 'outbox-daily';
    const run = completed(await runChecklist(deps, configFor(id), id, at(0)));

    const outbox = join(dataDir, 'outbox');
    const files = (await readdir(outbox)).sort();
    expect(files.map((f) => f.replace(/^.*_(?=[^_]+$)/, ''))).toEqual(['2026-03-02.html', '2026-03-02.json', '2026-03-02.txt']);
    const base = join(outbox, files[0]!.replace(/\.html$/, ''));
    expect(run.report).toMatchObject({ delivery: 'sent', location: `${base}.html` });
    expect(await readFile(`${base}.txt`, 'utf8')).toBe(run.text);
    expect(await readFile(`${base}.html`, 'utf8')).toMatch(/^<!doctype html>/i);
    expect(JSON.parse(await readFile(`${base}.json`, 'utf8'))).toMatchObject({
      to: ['oncall@example.com'],
      subject: run.report.subject,
      idempotencyKey: expect.stringMatching(new RegExp(`:${id}:2026-03-02$`)),
      headers: { 'X-Opsbook-Checklist': id },
    });
    const { rows } = await h.db.query<{ delivery: string }>('SELECT delivery FROM opsbook.reports WHERE checklist = $1', [id]);
    expect(rows).toEqual([{ delivery: 'sent' }]);
  });
});

describe('two deployments on one Resend team', () => {
  let dbs: DbHarness[];
  let sink: ResendSink;
  beforeAll(async () => {
    [sink, ...dbs] = await Promise.all([startResendSink(), openDb('pg'), openDb('pg')]) as [ResendSink, DbHarness, DbHarness];
  });
  afterAll(async () => {
    await Promise.allSettled([sink.close(), ...dbs.map((d) => d.close())]);
  });

  it('each with its own database, the same service, checklist and period → two distinct idempotency keys (each naming its install), both emails accepted', async () => {
    const id = 'shared-daily';
    const config = configFor(id);
    for (const h of dbs) {
      // Same environment, same driver, same service: only the database tells the deployments apart.
      const deps = await createDeps(parseEnv({ RESEND_API_KEY: RESEND_KEY }), {
        db: h.db,
        redis: createMemoryRedis(),
        email: createResendSender(RESEND_KEY, { baseUrl: sink.baseUrl, timeoutMs: 5000 }),
        errors: recordingReporter(),
        log: () => undefined,
      });
      expect(completed(await runChecklist(deps, config, id, at(0))).report.delivery).toBe('sent');
    }
    const installs = await Promise.all(dbs.map(async (h) => (await h.db.query<{ install_id: string }>('SELECT install_id FROM opsbook.install')).rows[0]!.install_id));
    const keys = sink.emails.map((e) => e.idempotencyKey);
    expect(keys).toEqual(installs.map((i) => `opsbook:deliverytest:local:${i.slice(0, 16)}:${id}:2026-03-02`));
    expect(new Set(keys).size).toBe(2);
    expect(sink.emails).toHaveLength(2);
    expect(sink.requests).toBe(2);
  });

  it('the install id is made once: migrating again (a restart, a second instance) keeps it', async () => {
    const h = dbs[0]!;
    const before = (await h.db.query<{ install_id: string }>('SELECT install_id FROM opsbook.install')).rows;
    await h.db.batch(schemaStatements(), { readOnly: false });
    expect((await h.db.query<{ install_id: string }>('SELECT install_id FROM opsbook.install')).rows).toEqual(before);
    expect(before).toHaveLength(1);
  });
});
