import type { HttpCheckConfig } from '../config/index.js';
import { messageOf } from '../errors.js';
import { checkBudget, sleep } from './net/budget.js';
import { displayUrl, fetchOnce, MAX_BODY_BYTES, withoutUserinfo, type FetchOutcome } from './net/fetch.js';
import { conditionProblem, evaluate, formatValue, type ConditionFailure } from './net/json-path.js';
import { redactOutcome, redactText, truncate, urlSecrets, type Secret } from './net/redact.js';
import { errored, fail, ok, skipped, warn } from './outcome.js';
import type { Check, CheckFamily, CheckOutcome, Need } from './types.js';

/** First retry waits this long, then twice as long each time (only after network errors). */
const BACKOFF_MS = 200;
/** Failed conditions shown in details. */
const MAX_SHOWN_CONDITIONS = 10;
const ACTUAL_MAX_CHARS = 120;

/**
 * HTTP(S) endpoint checks, Gatus/Uptime-Kuma style: one request (plus retries on network errors only),
 * expected status, latency thresholds, JSON conditions on the body. Header values read from the
 * environment are secrets: they are redacted from everything the check returns.
 */
export const family: CheckFamily = {
  family: 'http',
  checks: (config) => config.checks.http.map(httpCheck),
};

function httpCheck(cfg: HttpCheckConfig): Check {
  return {
    id: `http.${cfg.id}`,
    title: cfg.title ?? `${cfg.method} ${displayUrl(cfg.url)}`,
    family: 'http',
    severity: cfg.severity,
    needs: ['network', ...(cfg.needs as Need[])],
    async run(ctx) {
      // The URL's own credentials (password, ?apikey=…) are secrets too: an error may quote the URL.
      const secrets: Secret[] = urlSecrets(cfg.url);
      try {
        return redactOutcome(await runHttp(cfg, ctx.timeoutMs, secrets), secrets);
      } catch (err) {
        // A bug, not an outcome; its message may quote a header value, so it is redacted too.
        return errored(`could not run: ${truncate(redactText(messageOf(err), secrets), 300)}`);
      }
    },
  };
}

async function runHttp(cfg: HttpCheckConfig, runnerTimeoutMs: number, secrets: Secret[]): Promise<CheckOutcome> {
  const where = `checks.http "${cfg.id}"`;
  const problems = cfg.conditions.map(conditionProblem).filter((p): p is string => p !== undefined);
  if (problems.length) return errored(`invalid condition: ${problems.join('; ')}`, { hint: { text: `Fix the conditions of ${where}.` } });
  if (cfg.conditions.length && cfg.method === 'HEAD') {
    return errored('conditions need a body, and a HEAD answer has none', { hint: { text: `Use GET for ${where}, or drop its conditions.` } });
  }

  // Headers: literals, or values read from the environment now (never printed).
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(cfg.headers)) {
    if (typeof v === 'string') {
      headers[name] = v;
      continue;
    }
    const value = process.env[v.env];
    if (value === undefined || value.trim() === '') {
      return skipped(`header ${name} needs env ${v.env}`, `Set ${v.env} in this environment (Vercel: Project → Settings → Environment Variables), or remove the header from ${where}.`);
    }
    headers[name] = value;
    secrets.push({ name: v.env, value });
  }
  const has = (h: string) => Object.keys(headers).some((k) => k.toLowerCase() === h);

  const parsed = new URL(cfg.url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return errored(`only http:// and https:// URLs can be checked, not ${parsed.protocol}`, { hint: { text: `Fix url in ${where}.` } });
  }

  // fetch refuses URLs with credentials: send them as Basic auth instead, unless Authorization is set.
  let url = cfg.url;
  if (parsed.username || parsed.password) {
    const user = decodeURIComponent(parsed.username);
    const pass = decodeURIComponent(parsed.password);
    if (pass) secrets.push({ name: 'url password', value: pass });
    if (!has('authorization')) headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    url = withoutUserinfo(cfg.url);
  }
  if (!has('user-agent')) headers['user-agent'] = 'Opsbook-diagnostics';
  if (cfg.conditions.length && !has('accept')) headers.accept = 'application/json, */*;q=0.5';
  if (cfg.body !== undefined && !has('content-type') && isJson(cfg.body)) headers['content-type'] = 'application/json';

  const budget = checkBudget(runnerTimeoutMs, cfg.timeoutMs);
  const init: RequestInit & { headers: Record<string, string> } = {
    method: cfg.method,
    headers,
    // Expecting a redirect means checking it, not following it.
    redirect: cfg.expectStatus.some((s) => s >= 300 && s < 400) ? 'manual' : 'follow',
    ...(cfg.body !== undefined && cfg.method === 'POST' ? { body: cfg.body } : {}),
  };
  const readBody = cfg.conditions.length > 0;

  let attempts = 0;
  let res: FetchOutcome;
  const errors: string[] = [];
  for (;;) {
    attempts++;
    res = await fetchOnce(url, init, { timeoutMs: budget.callMs(), needBody: readBody });
    if (res.kind !== 'network') break;
    errors.push(res.error.message);
    const wait = BACKOFF_MS * 2 ** (attempts - 1);
    // Retry only what the network did wrong, and only while there is time for another real attempt.
    if (!res.error.retryable || attempts > cfg.retries || budget.remaining() < wait + 100) break;
    await sleep(wait);
  }
  const shownUrl = displayUrl(cfg.url);

  if (res.kind === 'invalid') {
    return errored(`request could not be sent: ${truncate(res.message, 200)}`, { hint: { text: `Check the URL, method and headers of ${where}.` } });
  }
  if (res.kind === 'network') {
    const times = attempts > 1 ? ` (${attempts} attempts)` : '';
    return fail(`${res.error.message}${times}`, {
      details: [{ url: shownUrl, method: cfg.method, attempts, errors }],
      hint: {
        text: res.error.retryable
          ? `Is ${new URL(shownUrl).host} up and reachable from where Opsbook runs? Check DNS, the process behind it and firewall rules.`
          : `The TLS connection to ${new URL(shownUrl).host} failed: check its certificate (add a tls check for details).`,
      },
    });
  }

  const { status, latencyMs } = res;
  const latency = Math.round(latencyMs);
  const row: Record<string, unknown> = { url: shownUrl, method: cfg.method, status, latencyMs, attempts };
  if (attempts > 1) row.errors = errors;
  const extra = { value: latency, unit: 'ms', details: [row] };

  // The body, for conditions: evaluated whatever the status, so a 503 says why.
  let bodyProblem: string | undefined;
  let failures: ConditionFailure[] = [];
  if (readBody) {
    if (res.bodyError) bodyProblem = `body could not be read: ${res.bodyError.message}`;
    else if (res.truncated) bodyProblem = `body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MB, conditions not checked`;
    else {
      let json: unknown;
      try {
        json = JSON.parse(res.body ?? '');
      } catch {
        const type = res.headers.get('content-type');
        bodyProblem = `body is not JSON${type ? ` (${truncate(type, 60)})` : ''}, conditions not checked`;
      }
      if (!bodyProblem) failures = cfg.conditions.flatMap((c) => evaluate(json, c) ?? []);
    }
    if (bodyProblem) row.bodyProblem = bodyProblem;
    if (failures.length) {
      row.failedConditions = failures.slice(0, MAX_SHOWN_CONDITIONS).map((f) => ({
        path: f.path,
        op: f.op,
        expected: f.expectation,
        // Redacted before it is cut, so a cut can never leave part of a secret behind.
        actual: f.found ? truncate(redactText(formatValue(f.actual, Infinity), secrets), ACTUAL_MAX_CHARS) : '(missing)',
      }));
      if (failures.length > MAX_SHOWN_CONDITIONS) row.moreFailedConditions = failures.length - MAX_SHOWN_CONDITIONS;
    }
  }

  if (!cfg.expectStatus.includes(status)) {
    return fail(`expected ${cfg.expectStatus.join(' or ')}, got ${status}`, {
      ...extra,
      hint: { text: `${shownUrl} answered ${status}: check the service's logs and its latest deploy.` },
    });
  }
  if (bodyProblem) {
    // Too large a body is this check's limit, not a fault of the target.
    return (res.truncated ? errored : fail)(bodyProblem, extra);
  }
  if (failures.length) {
    const first = failures[0]!;
    const actual = first.found ? truncate(redactText(formatValue(first.actual, Infinity), secrets), 60) : undefined;
    const text = actual === undefined ? `body ${first.path} is missing, expected ${first.expectation}` : `body ${first.path} = ${actual}, expected ${first.expectation}`;
    return fail(failures.length > 1 ? `${text} (+${failures.length - 1} more)` : text, extra);
  }
  if (latencyMs > cfg.failMs) return fail(`${status} in ${latency} ms, over the ${cfg.failMs} ms limit`, extra);
  if (latencyMs > cfg.degradedMs) return warn(`${status} in ${latency} ms, slower than ${cfg.degradedMs} ms`, extra);
  return ok(`${status} in ${latency} ms`, extra);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
