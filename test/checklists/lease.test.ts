// Dead runs are taken over (lib/checklists/run.ts, cron/checklist.ts, lib/alerts/missed.ts): a REAL
// runner (a child process running the production run engine against real Postgres) is SIGKILLed while
// its HTTP check waits on a target that does not answer. Its run row stays `running`, but nothing renews
// its lease: before the lease lapses every later call leaves it alone; once it has lapsed (the clock is
// injected), another checklist's cron invocation, or health after its answer, takes it over and
// completes it within the same period.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecklistJob } from '../../cron/checklist.js';
import { raiseMissedAfterHealth } from '../../lib/alerts/missed.js';
import { RUN_LEASE_MS, runChecklist } from '../../lib/checklists/run.js';
import { setConfig } from '../../lib/config/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { parseEnv } from '../../lib/env.js';
import { runHealth } from '../../lib/health.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { recordingReporter } from '../support/checklists.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { leaseConfig } from './lease-config.js';

/** Monday 2 March 2026, 09:00 UTC: every checklist here is due. */
const T = new Date('2026-03-02T09:00:00Z');
const after = (ms: number) => new Date(T.getTime() + ms);
const PERIOD = '2026-03-02';

/** An HTTP target that holds every request unanswered until `answer()`; then it answers 200. */
async function startTarget(): Promise<{ url: string; held: () => number; hold(): void; answer(): void; close(): Promise<void> }> {
  const waiting: ServerResponse[] = [];
  let answering = false;
  const server: Server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    if (answering) res.end('ok');
    else waiting.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held: () => waiting.length,
    hold() {
      answering = false;
    },
    answer() {
      answering = true;
    },
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('a runner killed mid-run', () => {
  let h: DbHarness;
  let target: Awaited<ReturnType<typeof startTarget>>;
  let deps: Deps;
  let dataDir: string;
  const errors = recordingReporter();
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    [h, target] = await Promise.all([openDb('pg'), startTarget()]);
    dataDir = mkdtempSync(join(tmpdir(), 'opsbook-lease-'));
    deps = await createDeps(parseEnv({ OPSBOOK_DATA_DIR: dataDir }), { db: h.db, redis: createMemoryRedis(), errors, log: () => undefined });
    await ensureSchema(h.db);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    setConfig(undefined);
    await Promise.allSettled([h.close(), target.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const config = () => leaseConfig(target.url);
  const runRow = async (job: string) =>
    (await h.db.query<{ status: string; attempts: number; lease_until: Date | string | null }>(`SELECT status, attempts, lease_until FROM opsbook.job_runs WHERE job = $1 AND period = $2`, [job, PERIOD])).rows[0];

  /** Start the real runner on `checklist` at T, wait until its run is `running` and its check is waiting on the target, then SIGKILL it. */
  async function killMidRun(checklist: string): Promise<void> {
    target.hold();
    const heldBefore = target.held();
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'lease-child.ts')], {
      env: { ...process.env, LEASE_DATABASE_URL: h.database!.url, LEASE_TARGET_URL: target.url, LEASE_CHECKLIST: checklist, LEASE_NOW: T.toISOString(), LEASE_DATA_DIR: dataDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Polls the real state; the bound is only a guard against a runner that never gets there.
    for (let i = 0; !((await runRow(checklist))?.status === 'running' && target.held() > heldBefore); i++) {
      if (child.exitCode !== null || i > 600) throw new Error(`the runner did not get mid-run (exit ${child.exitCode}): ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
  }

  it('before its lease lapses the dead run is left alone (already-ran, no takeover); once lapsed, another checklist’s cron takes it over and completes it in the same period', async () => {
    await killMidRun('slow');
    const dead = (await runRow('slow'))!;
    expect(dead).toMatchObject({ status: 'running', attempts: 1 });
    expect(new Date(dead.lease_until!).getTime()).toBeGreaterThanOrEqual(after(RUN_LEASE_MS).getTime());

    // Within the lease: the run may still be alive; nobody touches it.
    const early = after(RUN_LEASE_MS / 2);
    const other = await runChecklistJob(deps, config(), 'other', early);
    expect(other).toMatchObject({ checklist: 'other', status: 'completed' });
    expect(other).not.toHaveProperty('takenOver');
    expect(await runChecklist(deps, config(), 'slow', early)).toMatchObject({ status: 'already-ran', period: PERIOD });
    expect(await runRow('slow')).toMatchObject({ status: 'running', attempts: 1 });

    // Lapsed (and well before the 10-minute max runtime): the next invocation of anything takes it over.
    target.answer();
    const later = after(RUN_LEASE_MS + 60_000);
    const next = await runChecklistJob(deps, config(), 'other', later);
    expect(next).toMatchObject({ checklist: 'other', status: 'already-ran', takenOver: [{ checklist: 'slow', period: PERIOD, result: 'completed' }] });
    expect(await runRow('slow')).toMatchObject({ status: 'ok', attempts: 2 });
    const results = await h.db.query<{ item_key: string; status: string }>(
      `SELECT item_key, status FROM opsbook.run_results WHERE run_id = (SELECT id FROM opsbook.job_runs WHERE job = 'slow' AND period = $1)`,
      [PERIOD],
    );
    expect(results.rows).toEqual([{ item_key: 'check:http.slow-target', status: 'ok' }]);
    // Taken over once: a second invocation finds it done.
    expect(await runChecklistJob(deps, config(), 'other', after(RUN_LEASE_MS + 120_000))).not.toHaveProperty('takenOver');
  });

  it('health after its answer (waitUntil) takes a dead run over once its lease has lapsed, and raises no missed-run alert for it', async () => {
    setConfig(config());
    await killMidRun('slow2');
    const checklists = config().checklists;
    const opts = { budgetMs: 5000, critical: ['database' as const], production: false };

    // Within the lease: health does not count it, and nothing runs after the answer.
    const early = await runHealth(deps, opts, after(RUN_LEASE_MS / 2), { checklists });
    expect(early.details.checklists?.missed.filter((m) => m.checklist === 'slow2')).toEqual([]);

    target.answer();
    const later = after(RUN_LEASE_MS + 60_000);
    const health = await runHealth(deps, opts, later, { checklists });
    expect(health.details.checklists?.missed.filter((m) => m.checklist === 'slow2')).toEqual([{ checklist: 'slow2', expectedAt: T.toISOString(), period: PERIOD, dead: true }]);
    const deferred: Promise<unknown>[] = [];
    await raiseMissedAfterHealth(deps, health, { checklists }, { waitUntil: (p) => void deferred.push(p) }, () => later);
    expect(deferred).toHaveLength(1);
    await Promise.all(deferred);
    expect(await runRow('slow2')).toMatchObject({ status: 'ok', attempts: 2 });
    expect(errors.calls.filter((c) => c.tags?.checklist === 'slow2')).toEqual([]);
    const healed = await runHealth(deps, opts, after(RUN_LEASE_MS + 90_000), { checklists });
    expect(healed.details.checklists?.missed.filter((m) => m.checklist === 'slow2')).toEqual([]);
  });
});
