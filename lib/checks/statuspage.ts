import * as z from 'zod';
import type { StatusPageConfig } from '../config/index.js';
import { checkBudget, type Budget } from './net/budget.js';
import { displayUrl, fetchOnce } from './net/fetch.js';
import { redactOutcome, truncate, urlSecrets } from './net/redact.js';
import { errored, fail, ok, warn } from './outcome.js';
import type { Check, CheckContext, CheckFamily, CheckOutcome, CheckStatus, Need } from './types.js';

/**
 * Third-party status (Atlassian Statuspage v2: Stripe, GitHub, Vercel, Neon…). The indicator is the
 * vendor's own verdict. When the status page cannot be read, the vendor's state is unknown: that is
 * `error`, not `fail` (an unreachable status page says nothing about the vendor).
 */
export const family: CheckFamily = {
  family: 'statuspage',
  checks: (config) => config.checks.statusPages.map(statusPageCheck),
};

const INDICATORS: Record<string, CheckStatus> = { none: 'ok', minor: 'warn', maintenance: 'warn', major: 'fail', critical: 'fail' };

const statusBody = z.object({
  page: z.object({ name: z.string(), url: z.string().optional(), updated_at: z.string().optional() }).optional(),
  status: z.object({ indicator: z.string(), description: z.string() }),
});

const summaryBody = z.object({
  components: z.array(z.object({ name: z.string(), status: z.string(), group: z.boolean().nullish() })).optional(),
  incidents: z.array(z.object({ name: z.string(), status: z.string(), impact: z.string().optional() })).optional(),
  scheduled_maintenances: z.array(z.object({ name: z.string(), status: z.string() })).optional(),
});

/** `<url>/api/v2/status.json`, unless the URL already names a .json file. */
export function statusUrl(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith('.json')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v2/status.json`;
  return u.toString();
}

function statusPageCheck(cfg: StatusPageConfig): Check {
  const host = new URL(cfg.url).host;
  return {
    id: `statuspage.${cfg.id}`,
    title: cfg.title ?? `Status page ${host}`,
    family: 'statuspage',
    severity: cfg.severity,
    needs: ['network', ...(cfg.needs as Need[])],
    async run(ctx) {
      // The page's URL may carry a credential (?api_key=…): every string of the outcome is redacted.
      return redactOutcome(await runStatusPage(cfg, host, ctx), urlSecrets(cfg.url));
    },
  };
}

async function runStatusPage(cfg: StatusPageConfig, host: string, ctx: CheckContext): Promise<CheckOutcome> {
  const budget = checkBudget(ctx.timeoutMs, cfg.timeoutMs);
  const url = statusUrl(cfg.url);
  const shown = displayUrl(url);
  const hint = { text: `Check url in checks.statusPages "${cfg.id}": an Atlassian Statuspage serves ${shown}.` };
  const ms = budget.callMs();
  const res = await fetchOnce(url, { headers: { accept: 'application/json', 'user-agent': 'Opsbook-diagnostics' } }, { timeoutMs: ms, needBody: true });
  if (res.kind === 'invalid') return errored(`status page request could not be sent: ${truncate(res.message, 200)}`, { hint });
  if (res.kind === 'network') {
    const text = res.error.timedOut ? `no answer within ${ms} ms` : res.error.message;
    return errored(`status page unreachable: ${text}; ${host}'s status is unknown`, { details: [{ url: shown, error: res.error.code }] });
  }
  if (res.status < 200 || res.status > 299) return errored(`status page answered ${res.status}; ${host}'s status is unknown`, { details: [{ url: shown, status: res.status }], hint });
  if (res.bodyError || res.truncated) {
    return errored(`status page body ${res.truncated ? 'is larger than 1 MB' : `could not be read: ${res.bodyError?.message}`}`, { details: [{ url: shown }], hint });
  }
  let json: unknown;
  try {
    json = JSON.parse(res.body ?? '');
  } catch {
    const type = res.headers.get('content-type');
    return errored(`status page did not answer JSON${type ? ` (${truncate(type, 60)})` : ''}`, { details: [{ url: shown, body: truncate(res.body ?? '', 120) }], hint });
  }
  const parsed = statusBody.safeParse(json);
  if (!parsed.success) {
    return errored('status page JSON has no status.indicator and status.description: not an Atlassian Statuspage v2 answer', {
      details: [{ url: shown, body: truncate(JSON.stringify(json), 120) }],
      hint,
    });
  }
  return judge(cfg, parsed.data, url, budget);
}

async function judge(cfg: StatusPageConfig, body: z.output<typeof statusBody>, url: string, budget: Budget): Promise<CheckOutcome> {
  const { indicator, description } = body.status;
  const page = body.page?.name ?? new URL(cfg.url).host;
  const row: Record<string, unknown> = {
    page,
    ...(body.page?.url ? { url: body.page.url } : {}),
    indicator,
    description,
    ...(body.page?.updated_at ? { updatedAt: body.page.updated_at } : {}),
  };
  const status = INDICATORS[indicator];
  if (!status) return errored(`${page}: unknown indicator '${truncate(indicator, 40)}' (${truncate(description, 80)})`, { value: indicator, details: [row] });
  if (status !== 'ok') Object.assign(row, await whatIsWrong(url, budget));
  const summary = status === 'ok' ? `${page}: ${description}` : `${page}: ${description} (${indicator})`;
  const extra = {
    value: indicator,
    details: [row],
    ...(status === 'ok' ? {} : { hint: { text: `A vendor problem: follow ${body.page?.url ?? page}, and tell users if it touches them. Nothing to fix on our side.` } }),
  };
  return (status === 'ok' ? ok : status === 'warn' ? warn : fail)(truncate(summary, 200), extra);
}

/** Best effort, within what is left of the budget: which components are affected and which incidents are open. */
async function whatIsWrong(url: string, budget: Budget): Promise<Record<string, unknown>> {
  if (!/\/status\.json$/.test(new URL(url).pathname) || budget.remaining() < 300) return {};
  const u = new URL(url);
  u.pathname = u.pathname.replace(/status\.json$/, 'summary.json');
  const res = await fetchOnce(u.toString(), { headers: { accept: 'application/json', 'user-agent': 'Opsbook-diagnostics' } }, { timeoutMs: budget.callMs(), needBody: true });
  if (res.kind !== 'response' || res.status !== 200 || res.truncated || res.bodyError) return {};
  let parsed;
  try {
    parsed = summaryBody.safeParse(JSON.parse(res.body ?? ''));
  } catch {
    return {};
  }
  if (!parsed.success) return {};
  const out: Record<string, unknown> = {};
  const affected = (parsed.data.components ?? []).filter((c) => c.status !== 'operational' && !c.group);
  if (affected.length) out.components = affected.slice(0, 10).map((c) => ({ name: truncate(c.name, 80), status: c.status }));
  const open = (parsed.data.incidents ?? []).filter((i) => i.status !== 'resolved' && i.status !== 'postmortem');
  if (open.length) out.incidents = open.slice(0, 5).map((i) => ({ name: truncate(i.name, 120), status: i.status, ...(i.impact ? { impact: i.impact } : {}) }));
  const maintenance = (parsed.data.scheduled_maintenances ?? []).filter((m) => m.status === 'in_progress');
  if (maintenance.length) out.maintenances = maintenance.slice(0, 5).map((m) => ({ name: truncate(m.name, 120), status: m.status }));
  return out;
}
