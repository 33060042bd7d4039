import type { BaselineRule, OpsbookConfig } from '../config/index.js';
import { messageOf } from '../errors.js';
import { withTimeout } from '../timeout.js';
import { worst } from './outcome.js';
import { selectorMatches, selectorSpecificity } from './selector.js';
import type { CheckResult, PgAccess } from './types.js';

const DAY_MS = 86_400_000;
/** How far back each rule looks: `previous` far enough for a monthly checklist's last run. */
const WINDOW_DAYS: Record<BaselineRule['vs'], number> = { previous: 35, 'median-7d': 7, 'median-28d': 28 };

/**
 * The history a baseline is read from: the values stored with each checklist run's results (run_results
 * data.value), newest first, for the checks that have a rule. One statement for all of them.
 */
const HISTORY_SQL = `SELECT r.item_key, (r.data->>'value')::float8 AS value, (extract(epoch FROM j.started_at) * 1000)::float8 AS at_ms
  FROM opsbook.run_results r JOIN opsbook.job_runs j ON j.id = r.run_id
  WHERE r.item_key = ANY($1::text[]) AND j.started_at >= $2::timestamptz AND j.started_at < $3::timestamptz
    AND jsonb_typeof(r.data->'value') = 'number'
  ORDER BY r.item_key, j.started_at DESC
  LIMIT 5000`;

/** The rule for a check id: the most specific matching selector (lib/checks/selector.ts). */
export function baselineFor(config: OpsbookConfig, id: string): BaselineRule | undefined {
  const sel = Object.keys(config.baselines)
    .filter((s) => selectorMatches(s, { id }))
    .sort((a, b) => selectorSpecificity(b) - selectorSpecificity(a))[0];
  return sel === undefined ? undefined : config.baselines[sel];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The verdict of one value against its history (newest first). Pure. */
export function judgeBaseline(value: number, history: number[], rule: BaselineRule): { status: 'ok' | 'warn' | 'fail' | 'unknown'; note: string } {
  const window = rule.vs === 'previous' ? history.slice(0, 1) : history;
  const what = rule.vs === 'previous' ? 'the previous run' : `its ${rule.vs === 'median-7d' ? '7' : '28'}-day median`;
  const need = rule.vs === 'previous' ? 1 : rule.minSamples;
  if (window.length < need) return { status: 'unknown', note: `baseline: not enough history yet (${window.length} of ${need} stored run${need === 1 ? '' : 's'})` };
  const base = rule.vs === 'previous' ? window[0]! : median(window);
  if (base === 0) return { status: 'unknown', note: `baseline: ${what} is 0, so a change has no percentage` };
  const change = ((value - base) / Math.abs(base)) * 100;
  const bad = rule.direction === 'either' ? Math.abs(change) : rule.direction === 'above' ? change : -change;
  const shown = `${Math.round(Math.abs(change))} % ${change >= 0 ? 'above' : 'below'} ${what} (${Math.round(base * 100) / 100}${rule.vs === 'previous' ? '' : `, ${window.length} runs`})`;
  if (rule.failPct !== undefined && bad >= rule.failPct) return { status: 'fail', note: `${shown}: fail at ${rule.failPct} %` };
  if (rule.warnPct !== undefined && bad >= rule.warnPct) return { status: 'warn', note: `${shown}: warn at ${rule.warnPct} %` };
  return { status: 'ok', note: shown };
}

/**
 * Grade numeric results against their baselines: the worse of the check's own status and the change's,
 * with the comparison appended to the summary. Results that are suppressed, skipped or errored, or have
 * no number, are left as they are. The history read is bounded by `timeoutMs`; when it fails the results
 * stand and say the baseline is unknown.
 */
export async function applyBaselines(results: CheckResult[], config: OpsbookConfig, store: PgAccess, now: Date, timeoutMs: number): Promise<CheckResult[]> {
  const judged = results.filter((r) => typeof r.value === 'number' && !r.suppressedBy && r.status !== 'skipped' && r.status !== 'error' && baselineFor(config, r.id));
  if (judged.length === 0) return results;
  const longest = Math.max(...judged.map((r) => WINDOW_DAYS[baselineFor(config, r.id)!.vs]));
  let history: Map<string, Array<{ value: number; atMs: number }>>;
  try {
    const [res] = await withTimeout(
      () => store.batch([{ text: HISTORY_SQL, params: [judged.map((r) => `check:${r.id}`), new Date(now.getTime() - longest * DAY_MS).toISOString(), now.toISOString()] }]),
      timeoutMs,
      'baseline history',
    );
    history = new Map();
    for (const row of res!.rows) {
      const key = String(row.item_key).slice('check:'.length);
      history.set(key, [...(history.get(key) ?? []), { value: Number(row.value), atMs: Number(row.at_ms) }]);
    }
  } catch (err) {
    const note = `baseline unknown: its history could not be read (${messageOf(err).slice(0, 120)})`;
    return results.map((r) => (judged.includes(r) ? { ...r, summary: `${r.summary}; ${note}` } : r));
  }
  return results.map((r) => {
    if (!judged.includes(r)) return r;
    const rule = baselineFor(config, r.id)!;
    // Each rule reads its own window, though one statement fetched the longest any rule needs.
    const since = now.getTime() - WINDOW_DAYS[rule.vs] * DAY_MS;
    const values = (history.get(r.id) ?? []).filter((h) => h.atMs >= since).map((h) => h.value);
    const verdict = judgeBaseline(r.value as number, values, rule);
    const status = verdict.status === 'unknown' ? r.status : worst([r.status, verdict.status]);
    return { ...r, status, summary: `${r.summary}; ${verdict.note}` };
  });
}
