import { createHash, randomBytes } from 'node:crypto';
import * as z from 'zod';
import { bearerToken, principalId, roleAllows } from '../auth.js';
import { getConfig } from '../config/index.js';
import { getDeps } from '../deps.js';
import { ensureSchema } from '../db/schema.js';
import type { Env } from '../env.js';
import { OpsbookError } from '../errors.js';
import { clientIp, clientRequestIdOf, json, route } from '../http.js';
import type { ActionContext, ActionDefinition, ActionResult } from './action.js';
import { canonical, planHash, signConfirm, spendConfirm, verifyConfirm, CONFIRM_TTL_MS } from './confirm.js';
import { claimKey, completeKey, releaseKey, requestHash } from './idempotency.js';
import { limitersFor, limitOrThrow } from './ratelimit.js';
import { storedTokenResolver } from './tokens.js';

/** Bodies are small JSON documents; anything bigger is a mistake or an attack. */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * Fields of a dry run's rows that measure a target rather than name it (a session's age, a table's size
 * and vacuum times, a row's last-used time): they move on their own between a dry run and its confirm,
 * so they are not part of the plan. Anything else about a target is.
 */
const MEASUREMENT = /^(ageSeconds|bytes|liveRows|deadRows|ms|scanCalls)$|^last[A-Z_]|(At|_at)$/;

/** A target as the plan knows it: its `id` or `pid` when it has one, else its non-measurement fields. */
function targetOf(item: unknown): unknown {
  if (Array.isArray(item)) return item.map(targetOf);
  if (!item || typeof item !== 'object') return item;
  const o = item as Record<string, unknown>;
  if (o.id !== undefined || o.pid !== undefined) return { id: o.id, pid: o.pid };
  return Object.fromEntries(Object.entries(o).filter(([k]) => !MEASUREMENT.test(k)).map(([k, v]) => [k, targetOf(v)]));
}

/** A set of targets in a stable order: SCAN and catalog queries may list the same set differently. */
const targetSet = (items: unknown[] | undefined) => items?.map(targetOf).sort((a, b) => (canonical(a) < canonical(b) ? -1 : canonical(a) > canonical(b) ? 1 : 0));

/**
 * What a dry run says the action would change, computed the same way for every action from its
 * answer: the outcome, how many targets, and which (the sorted sample and per-target results). The
 * summary and `data` (notes, skipped items, totals) are left out: they describe, they are not the
 * change. When the dry run itself was cut short (`data.complete === false`, a scan over a huge keyspace)
 * its count is a lower bound that no two scans agree on, so only the targets it found are bound.
 */
export function planOf(result: ActionResult): unknown {
  const data = result.data as { complete?: unknown } | undefined;
  const complete = !(data && typeof data === 'object' && data.complete === false);
  return { status: result.status, ...(complete ? { count: result.count } : {}), sample: targetSet(result.sample), results: targetSet(result.results) };
}

let processSecret: string | undefined;
/** The key that signs confirm tokens: configured, else derived from a configured secret, else per process. */
export function confirmSecret(env: Env): string {
  const base = env.OPSBOOK_CONFIRM_SECRET ?? env.OPSBOOK_ADMIN_TOKEN ?? env.CRON_SECRET;
  if (base) return createHash('sha256').update(`opsbook-confirm\n${base}`).digest('base64url');
  processSecret ??= randomBytes(32).toString('base64url');
  return processSecret;
}

/** The body (POST) or query (GET) of a request, as plain data for the schema. */
async function readInput(request: Request, method: 'GET' | 'POST'): Promise<unknown> {
  if (method === 'GET') {
    const out: Record<string, string> = {};
    for (const [k, v] of new URL(request.url).searchParams) {
      if (k in out) throw new OpsbookError('BAD_REQUEST', `Query parameter "${k.slice(0, 40)}" is given twice.`);
      out[k] = v;
    }
    return out;
  }
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new OpsbookError('PAYLOAD_TOO_LARGE', 'The request body is larger than 64 KB.');
  if (text.trim() === '') return {};
  if (!/^application\/json\b/i.test(request.headers.get('content-type') ?? 'application/json')) {
    throw new OpsbookError('BAD_REQUEST', 'The body must be JSON (content-type: application/json).');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new OpsbookError('BAD_REQUEST', 'The body is not valid JSON.');
  }
}

/** U+0000 (Postgres text cannot store it) or a lone UTF-16 surrogate (jsonb refuses it, UTF-8 cannot encode it). */
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Where a string holds a character no Postgres text can, if anywhere. The drivers fail on those with a
 * 500 (or, worse, store a replacement character), so they are refused as input. Iterative: a deeply
 * nested body must not overflow the stack.
 */
function unstorableAt(input: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[input, '']];
  while (stack.length) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string' && UNSTORABLE.test(value)) return path || 'body';
    if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) stack.push([v, path ? `${path}.${k.slice(0, 40)}` : k.slice(0, 40)]);
    }
  }
  return undefined;
}

function parseWith(schema: z.ZodObject, input: unknown, mutates: boolean): Record<string, unknown> & { dryRun?: boolean; confirm?: string } {
  const bad = unstorableAt(input);
  if (bad !== undefined) {
    const problem = `${bad}: must be valid Unicode text, without NUL (\\u0000) or unpaired surrogates`;
    throw new OpsbookError('BAD_REQUEST', `Invalid request: ${problem}`, { details: [problem] });
  }
  const full = mutates ? schema.extend({ dryRun: z.boolean().optional(), confirm: z.string().min(10).max(200).optional() }).strict() : schema.strict();
  const parsed = full.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    throw new OpsbookError('BAD_REQUEST', `Invalid request: ${problems.join('; ')}`, { details: problems });
  }
  return parsed.data as Record<string, unknown>;
}

/**
 * Every admin route goes through here, in this order: rate limit by IP → authenticate (failures
 * counted per IP, by `route()` as on every route) → role → rate limit by token → validate →
 * idempotency → dry run / confirm → run. The route adapters in api/admin/ are one line each, so no
 * route can skip a step.
 *
 * Confirm tokens are bound to the caller token's id, the action, its parameters and the plan its dry
 * run showed (`planOf`). A confirm runs the dry run again first: if the plan differs, nothing is done
 * (409, run the dry run again); if it matches, the token is spent (once only) and the action runs.
 * Idempotency keys belong to the token id as well, so a new token never replays a revoked one's answers.
 */
export function adminRoute(def: ActionDefinition): (request: Request) => Promise<Response> {
  return route(async (request, requestId) => {
    const deps = await getDeps();
    const now = new Date();
    const ip = clientIp(request);
    const config = await getConfig();
    const limiters = limitersFor(deps, config);
    await limitOrThrow(limiters.perIp, ip, 'requests from this address');

    const token = bearerToken(request);
    const actor = token ? await storedTokenResolver(deps.db, deps.env)(token) : undefined;
    if (!actor) throw new OpsbookError('UNAUTHORIZED', 'A valid Bearer token is required.', { headers: { 'www-authenticate': 'Bearer' } });
    if (!roleAllows(actor.role, def.role)) throw new OpsbookError('FORBIDDEN', `This route needs the ${def.role} role.`);
    const actorId = principalId(actor);
    await limitOrThrow(limiters.perToken, actorId, 'requests with this token');

    const input = parseWith(def.schema, await readInput(request, def.method), def.mutates);
    const { dryRun = false, confirm, ...params } = input;
    const clientRequestId = clientRequestIdOf(request);
    const ctx: ActionContext = { deps, config, actor, requestId, ...(clientRequestId ? { clientRequestId } : {}), ip, userAgent: request.headers.get('user-agent') ?? '', now };
    await ensureSchema(deps.db);

    if (!def.mutates) {
      const result = await def.run(ctx, params, { dryRun: false });
      return json({ action: def.id, ...result, requestId }, { requestId });
    }

    const key = request.headers.get('idempotency-key');
    if (key !== null && !/^[\x21-\x7e]{1,255}$/.test(key)) throw new OpsbookError('BAD_REQUEST', 'Idempotency-Key must be 1–255 visible ASCII characters.');
    if (key) {
      // The claim counts only if the database runs it while this request still waits for it.
      const deadline = new Date(Date.now() + deps.env.OPSBOOK_DEPENDENCY_TIMEOUT_MS);
      const claim = await claimKey(deps.db, actorId, key, requestHash(def.id, input), now, deadline);
      if (claim.kind === 'replay') return json(claim.body, { status: claim.status, requestId, headers: { 'idempotent-replayed': 'true' } });
    }
    try {
      const needsConfirm = typeof def.confirm === 'function' ? def.confirm(params) : def.confirm;
      const secret = confirmSecret(deps.env);
      const signed = { actor: actorId, action: def.id, params, now };
      if (needsConfirm && !dryRun) {
        if (!confirm) throw new OpsbookError('CONFIRMATION_REQUIRED', `${def.id} is bulk or destructive: send it with "dryRun": true first, then repeat it with the "confirm" token from that answer.`);
        // The token must be this caller's for this request before anything else is looked at; then the
        // plan is computed again, exactly as the dry run did, and must be the one that was confirmed.
        verifyConfirm(secret, confirm, { ...signed, plan: '' }, { checkPlan: false });
        const current = await def.run(ctx, params, { dryRun: true });
        verifyConfirm(secret, confirm, { ...signed, plan: planHash(planOf(current)) });
        await spendConfirm(deps.db, confirm, now);
        ctx.confirmed = true;
      }
      const result = await def.run(ctx, params, { dryRun });
      const body = {
        action: def.id,
        ...result,
        ...(needsConfirm && dryRun
          ? { confirmToken: signConfirm(secret, { ...signed, plan: planHash(planOf(result)) }), confirmExpiresAt: new Date(now.getTime() + CONFIRM_TTL_MS).toISOString() }
          : {}),
        requestId,
      };
      if (key) {
        const stored = def.secretResponse ? { ...body, data: '[shown once: not kept for replay]' } : body;
        await completeKey(deps.db, actorId, key, 200, stored);
      }
      return json(body, { requestId });
    } catch (err) {
      // Actions are atomic: an error means nothing changed, so the key may be used again.
      if (key) await releaseKey(deps.db, actorId, key);
      throw err;
    }
  });
}
