import { describe, expect, it } from 'vitest';
import { rootCauses, suppressDependents, withRoots } from '../../lib/checks/dependencies.js';
import type { Check, CheckResult, CheckStatus, Need } from '../../lib/checks/types.js';

const check = (id: string, needs: Need[] = []): Check => ({ id, title: id, family: id.split('.')[0]!, severity: 'P2', needs, run: async () => ({ status: 'ok', summary: '' }) });
const result = (id: string, status: CheckStatus): CheckResult => ({ id, title: id, family: id.split('.')[0]!, severity: 'P2', status, summary: `${id} ${status}`, durationMs: 1, target: 'main' });

const CHECKS = [
  check('postgres.reachable'),
  check('redis.ping', ['redis']),
  ...Array.from({ length: 10 }, (_, i) => check(`sql.metric-${i}`, ['postgres'])),
  check('queues.backlog', ['queue-redis']),
  check('tcp.api', ['network']),
  check('http.api', ['network', 'tcp.api']),
  check('http.gateway', ['network', 'http.api']),
  check('heartbeat.backup', ['store']),
];

function run(down: string[]): CheckResult[] {
  return suppressDependents(
    CHECKS.map((c) => result(c.id, down.includes(c.id) ? 'error' : 'ok')),
    CHECKS,
  );
}

describe('dependency suppression', () => {
  it('Postgres down → its ten dependents (and the store reader) say "suppressed: postgres unreachable"; one root cause', () => {
    const results = run(['postgres.reachable', ...CHECKS.filter((c) => c.needs.includes('postgres')).map((c) => c.id)]);
    const suppressed = results.filter((r) => r.suppressedBy);
    expect(suppressed.map((r) => r.id)).toEqual([...Array.from({ length: 10 }, (_, i) => `sql.metric-${i}`), 'heartbeat.backup']);
    for (const r of suppressed) expect(r).toMatchObject({ status: 'skipped', summary: 'suppressed: postgres unreachable', suppressedBy: 'postgres.reachable' });
    expect(rootCauses(results).map((c) => [c.root.id, c.suppressed.length])).toEqual([['postgres.reachable', 11]]);
    expect(results.find((r) => r.id === 'postgres.reachable')!.status).toBe('error');
  });

  it('a named endpoint down → its chain of dependents names the same root', () => {
    const results = run(['tcp.api', 'http.api', 'http.gateway']);
    expect(results.filter((r) => r.suppressedBy).map((r) => [r.id, r.summary])).toEqual([
      ['http.api', 'suppressed: tcp.api unreachable'],
      ['http.gateway', 'suppressed: tcp.api unreachable'],
    ]);
  });

  it('Redis down → queues suppressed by redis.ping; redis.ping is never suppressed by itself', () => {
    const results = run(['redis.ping', 'queues.backlog']);
    expect(results.find((r) => r.id === 'redis.ping')!.status).toBe('error');
    expect(results.find((r) => r.id === 'queues.backlog')).toMatchObject({ summary: 'suppressed: redis unreachable' });
  });

  it('a dependent failing while its need is up keeps its own result', () => {
    const results = run(['http.api']);
    expect(results.find((r) => r.id === 'http.api')).toMatchObject({ status: 'error', summary: 'http.api error' });
    expect(results.find((r) => r.id === 'http.gateway')).toMatchObject({ summary: 'suppressed: http.api unreachable' });
  });

  it('queues on their own Redis and a separate store are not tied to redis.ping / postgres.reachable', () => {
    const opts = { queuesOnMainRedis: false, storeIsDiagnosed: false };
    const results = suppressDependents(
      CHECKS.map((c) => result(c.id, ['postgres.reachable', 'redis.ping'].includes(c.id) ? 'error' : 'ok')),
      CHECKS,
      opts,
    );
    expect(results.find((r) => r.id === 'queues.backlog')!.suppressedBy).toBeUndefined();
    expect(results.find((r) => r.id === 'heartbeat.backup')!.suppressedBy).toBeUndefined();
  });

  it('a cycle (a needs b, b needs a) suppresses nothing and never loops', () => {
    const cyc = [check('tcp.a', ['tcp.b']), check('tcp.b', ['tcp.a'])];
    const results = suppressDependents([result('tcp.a', 'error'), result('tcp.b', 'error')], cyc);
    expect(results.map((r) => r.status)).toEqual(['error', 'error']);
  });

  it('selecting a dependent adds the check standing for its need, once', () => {
    const picked = withRoots([CHECKS.find((c) => c.id === 'sql.metric-0')!, CHECKS.find((c) => c.id === 'http.gateway')!], CHECKS);
    expect(picked.map((c) => c.id).sort()).toEqual(['http.api', 'http.gateway', 'postgres.reachable', 'sql.metric-0', 'tcp.api']);
  });
});

describe('needs in the config', () => {
  const http = (id: string, needs: string[]) => ({ id, url: 'https://example.com/', needs });
  it.each<[string, Record<string, unknown>, RegExp | null]>([
    ['a configured check id → accepted', { tcp: [{ id: 'api-host', host: 'example.com', port: 443 }], http: [http('api', ['tcp.api-host'])] }, null],
    ['postgres and redis → accepted', { http: [http('api', ['postgres', 'redis'])] }, null],
    ['an unknown check id → rejected, naming the known ones', { http: [http('api', ['tcp.nope'])] }, /http\.api needs "tcp\.nope", which is not a configured check/],
    ['itself → rejected', { http: [http('api', ['http.api'])] }, /cannot need itself/],
    ['a cycle → rejected', { http: [http('a', ['http.b']), http('b', ['http.a'])] }, /on a cycle of needs/],
    ['not a need at all → rejected', { http: [http('api', ['mysql'])] }, /must be "postgres", "redis" or a check id/],
  ])('%s', async (_name, checks, error) => {
    const { parseConfig } = await import('../../lib/config/index.js');
    if (error === null) expect(() => parseConfig({ checks })).not.toThrow();
    else expect(() => parseConfig({ checks })).toThrow(error);
  });
});
