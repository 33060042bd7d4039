import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';

/**
 * The config lease.test.ts and its child runner share: two daily checklists whose HTTP check waits on
 * the test's target (long enough to be killed mid-run), and `other`, a checklist of one manual item whose
 * cron is "the next invocation of anything".
 */
export function leaseConfig(targetUrl: string): OpsbookConfig {
  const slow = (id: string) => ({
    id,
    title: `Slow ${id}`,
    schedule: { type: 'daily' as const, at: '09:00' },
    itemTimeoutMs: 120_000,
    items: [{ check: `http.${id}-target` }],
  });
  return parseConfig({
    service: 'LeaseTest',
    checks: { http: ['slow', 'slow2'].map((id) => ({ id: `${id}-target`, url: `${targetUrl}/${id}`, timeoutMs: 60_000, failMs: 60_000, retries: 0 })) },
    checklists: [slow('slow'), slow('slow2'), { id: 'other', title: 'Other', schedule: { type: 'daily', at: '09:00' }, items: [{ manual: 'Look at the dashboards' }] }],
  });
}
