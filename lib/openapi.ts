import * as z from 'zod';
import type { ActionDefinition } from './admin/action.js';
import { ACTIONS } from './admin/registry.js';
import { ROLES, type Role } from './auth.js';
import { latestReportQuery, reportByIdQuery } from './checklists/report-query.js';
import { diagnosticsQuery } from './diagnostics/query.js';
import { incidentByIdQuery, incidentListQuery } from './incidents/query.js';
import { ERROR_CODES } from './errors.js';

/**
 * The OpenAPI 3.1 document of every route, built from the same definitions the routes run on: the
 * admin actions' zod schemas (lib/admin/registry.ts) and the query schemas of the other routes. Nothing
 * here is written twice, so the document cannot drift from what the routes accept.
 */

type Json = Record<string, unknown>;
/** Who may call a route: a role, anyone, or Vercel cron with CRON_SECRET. */
export type Access = Role | 'public' | 'cron';

const ROLE_TEXT =
  'Roles, weakest first: `heartbeat` (only pings heartbeats), `read` (diagnostics, reports, incidents, audit), `operate` (single-target actions), `admin` (bulk and destructive actions, tokens). ' +
  '`admin` implies every role; `heartbeat` is implied by no other role than `admin`.';

/** zod → JSON Schema (draft 2020-12, OpenAPI 3.1's dialect), as a request sees it: defaults make a field optional. */
export function toSchema(schema: z.ZodType): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
}

/** The body (POST) or query (GET) an action accepts, exactly as the pipeline parses it (lib/admin/handler.ts). */
export function actionInputSchema(def: ActionDefinition<z.ZodObject>): z.ZodObject {
  return def.mutates
    ? def.schema.extend({
        dryRun: z.boolean().optional().describe('Answer what would change, change nothing. Bulk and destructive actions answer a confirmToken.'),
        confirm: z.string().min(10).max(200).optional().describe('The confirmToken from this action\'s dry run with the same parameters (10 minutes).'),
      }).strict()
    : def.schema.strict();
}

function componentName(id: string): string {
  return id.split(/[^A-Za-z0-9]+/).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
}

const errorRef = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string, headers?: Json): Json => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: errorRef } },
});

const COMPONENT_RESPONSES: Json = {
  BadRequest: errorResponse('BAD_REQUEST: the body or query does not match the schema (details lists every problem).'),
  Unauthorized: errorResponse('UNAUTHORIZED: no valid Bearer token (missing, unknown, revoked, or not in the Authorization header).', {
    'WWW-Authenticate': { schema: { type: 'string', const: 'Bearer' } },
  }),
  Forbidden: errorResponse('FORBIDDEN: the token is valid but its role is too weak for this route.'),
  NotFound: errorResponse('NOT_FOUND: nothing with that name or id.'),
  Conflict: errorResponse('CONFLICT: the Idempotency-Key was used with another body, or its first request is still running (or the action\'s own conflict, e.g. a token name in use).'),
  PayloadTooLarge: errorResponse('PAYLOAD_TOO_LARGE: the body is larger than 64 KB.'),
  ConfirmationRequired: errorResponse('CONFIRMATION_REQUIRED: bulk or destructive; send the dry run first and repeat with its confirmToken.'),
  RateLimited: errorResponse('RATE_LIMITED: per token (60/min), per address (120/min) or failed authentications per address (10 per 5 min).', {
    'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer', minimum: 1 } },
  }),
  Internal: errorResponse('INTERNAL or MISCONFIGURED: the request id identifies it in the logs.'),
  Unavailable: errorResponse('DEPENDENCY_UNAVAILABLE: the database or Redis (rate limiting) did not answer; admin routes fail closed.'),
};

const ref = (name: string) => ({ $ref: `#/components/responses/${name}` });

function components(actions: readonly ActionDefinition<any>[]): Json {
  return {
    securitySchemes: {
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        description: `A token in the Authorization header only (never in the URL): OPSBOOK_ADMIN_TOKEN (admin, named "bootstrap") or a stored token \`ops_…\` created with POST /api/admin/tokens or \`npx opsbook token create\`. ${ROLE_TEXT} Each operation lists the role it needs in its security requirement and in \`x-opsbook-role\`.`,
      },
      cronSecret: {
        type: 'http',
        scheme: 'bearer',
        description: 'CRON_SECRET, as Vercel cron sends it. No other token is accepted on cron routes.',
      },
    },
    parameters: {
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'Stripe semantics, per token, 24 hours: a retry with the same key and body replays the stored answer (with `Idempotent-Replayed: true`); the same key with another body is a 409.',
        schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
      },
    },
    schemas: {
      ErrorCode: { type: 'string', enum: Object.keys(ERROR_CODES), description: 'The closed set of error codes (lib/errors.ts).' },
      Error: {
        type: 'object',
        description: 'The one error shape of every route.',
        required: ['error', 'requestId'],
        additionalProperties: false,
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            additionalProperties: false,
            properties: { code: { $ref: '#/components/schemas/ErrorCode' }, message: { type: 'string' }, details: {} },
          },
          requestId: { type: 'string' },
        },
      },
      Role: { type: 'string', enum: [...ROLES] },
      ActionResult: {
        type: 'object',
        description: 'What an admin action changed (or, in a dry run, would change).',
        required: ['action', 'status', 'summary', 'dryRun', 'requestId'],
        properties: {
          action: { type: 'string', description: 'The action id, e.g. users.lock.' },
          status: { type: 'string', enum: ['ok', 'noop', 'partial', 'not-found'] },
          summary: { type: 'string' },
          dryRun: { type: 'boolean' },
          count: { type: 'integer', minimum: 0 },
          sample: { type: 'array', items: {} },
          results: { type: 'array', items: {} },
          data: { description: 'Action-specific: a lookup\'s rows, the audit rows, a created token (shown once).' },
          auditId: { type: 'integer' },
          confirmToken: { type: 'string', description: 'Dry runs of bulk or destructive actions: send it back as "confirm".' },
          confirmExpiresAt: { type: 'string', format: 'date-time' },
          requestId: { type: 'string' },
        },
      },
      Health: {
        type: 'object',
        required: ['status', 'timestamp', 'checks'],
        properties: {
          status: { type: 'string', enum: ['healthy', 'degraded', 'unhealthy'] },
          timestamp: { type: 'string', format: 'date-time' },
          checks: { type: 'object', additionalProperties: { type: 'string' } },
          details: { type: 'object', description: 'Only with a token of role read or stronger: latencies and error messages.' },
        },
      },
      PingReceipt: {
        type: 'object',
        required: ['ok', 'name', 'kind', 'receivedAt'],
        properties: {
          ok: { type: 'boolean', const: true },
          name: { type: 'string' },
          kind: { type: 'string', enum: ['success', 'start', 'fail', 'exit'] },
          exitCode: { type: 'integer', minimum: 0, maximum: 255 },
          receivedAt: { type: 'string', format: 'date-time' },
          bodyBytes: { type: 'integer', minimum: 0 },
          truncated: { type: 'boolean' },
          note: { type: 'string' },
        },
      },
      ...Object.fromEntries(actions.map((def) => [`${componentName(def.id)}Input`, toSchema(actionInputSchema(def))])),
    },
    responses: COMPONENT_RESPONSES,
  };
}

function accessFields(access: Access): Json {
  if (access === 'public') return { security: [{}, { bearerAuth: [] }], 'x-opsbook-role': 'public' };
  if (access === 'cron') return { security: [{ cronSecret: [] }], 'x-opsbook-role': 'cron' };
  return { security: [{ bearerAuth: [access] }], 'x-opsbook-role': access };
}

function authResponses(access: Access): Json {
  if (access === 'public') return {};
  if (access === 'cron') return { '401': ref('Unauthorized') };
  return { '401': ref('Unauthorized'), '403': ref('Forbidden') };
}

/** Query (or path) parameters from an object schema's properties. */
function parametersFrom(schema: Json, where: 'query' | 'path' = 'query', only?: (name: string) => boolean): Json[] {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props)
    .filter(([name]) => !only || only(name))
    .map(([name, s]) => ({
      name,
      in: where,
      required: where === 'path' ? true : required.has(name),
      ...(typeof s.description === 'string' ? { description: s.description } : {}),
      schema: s,
    }));
}

function actionOperation(def: ActionDefinition<z.ZodObject>): Json {
  const input = `#/components/schemas/${componentName(def.id)}Input`;
  const confirm = typeof def.confirm === 'function' ? 'depends' : def.confirm ? 'always' : 'never';
  const notes = [
    `Needs the **${def.role}** role. ${ROLE_TEXT}`,
    def.mutates
      ? `Changes state, audited. \`"dryRun": true\` answers what would change.${confirm === 'always' ? ' Bulk or destructive: needs the confirmToken of its dry run as `"confirm"`.' : confirm === 'depends' ? ' Some parameters make it bulk or destructive: then it needs the confirmToken of its dry run as `"confirm"`.' : ''}`
      : 'Read-only.',
  ];
  const responses: Json = {
    '200': { description: 'The action\'s result.', content: { 'application/json': { schema: { $ref: '#/components/schemas/ActionResult' } } } },
    '400': ref('BadRequest'),
    ...authResponses(def.role),
    ...(def.mutates ? { '409': ref('Conflict') } : {}),
    ...(def.method === 'POST' ? { '413': ref('PayloadTooLarge') } : {}),
    ...(def.mutates && confirm !== 'never' ? { '428': ref('ConfirmationRequired') } : {}),
    '429': ref('RateLimited'),
    '500': ref('Internal'),
    '503': ref('Unavailable'),
  };
  return {
    operationId: def.id,
    summary: def.summary,
    description: notes.join('\n\n'),
    tags: [def.path.split('/')[3] ?? 'admin'],
    ...accessFields(def.role),
    'x-opsbook-confirm': confirm,
    'x-opsbook-mutates': def.mutates,
    ...(def.method === 'GET'
      ? { parameters: parametersFrom(toSchema(actionInputSchema(def))) }
      : {
          parameters: def.mutates ? [{ $ref: '#/components/parameters/IdempotencyKey' }] : [],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: input } } } },
        }),
    responses,
  };
}

const reportContent: Json = {
  'text/html': { schema: { type: 'string' } },
  'text/plain': { schema: { type: 'string' } },
};

/** The routes outside the admin table: their access and shapes. Kept beside the route table test's own list. */
function otherPaths(): Record<string, Json> {
  const diagnosticsParams = parametersFrom(toSchema(diagnosticsQuery));
  const pingOp = (id: string, summary: string, extra: Json[] = []) => ({
    operationId: id,
    summary,
    tags: ['heartbeats'],
    ...accessFields('heartbeat'),
    parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string', maxLength: 64 } }, ...extra],
    requestBody: { required: false, description: 'Optional text (e.g. a log tail); the first 10 KB are stored, never logged.', content: { 'text/plain': { schema: { type: 'string' } } } },
    responses: {
      '200': { description: 'The ping was recorded.', content: { 'application/json': { schema: { $ref: '#/components/schemas/PingReceipt' } } } },
      '400': ref('BadRequest'),
      ...authResponses('heartbeat'),
      '404': ref('NotFound'),
      '503': ref('Unavailable'),
    },
  });
  const actionParam = { name: 'action', in: 'path', required: true, description: '`start`, `fail`, or an exit code 0-255 (0 = success).', schema: { type: 'string', pattern: '^(start|fail|[0-9]{1,3})$' } };
  const health = {
    summary: 'Health of the service and its dependencies (public; a read token adds details)',
    tags: ['health'],
    ...accessFields('public'),
    responses: {
      '200': { description: 'Healthy or degraded.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } },
      '503': { description: 'Unhealthy: a critical dependency is down.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } },
    },
  };
  return {
    '/api/health': { get: { operationId: 'health', ...health }, head: { operationId: 'health.head', ...health } },
    '/api/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        tags: ['meta'],
        ...accessFields('public'),
        responses: { '200': { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/api/diagnostics': {
      get: {
        operationId: 'diagnostics',
        summary: 'Run the configured checks (or a runbook playbook) now',
        tags: ['diagnostics'],
        ...accessFields('read'),
        parameters: diagnosticsParams,
        responses: {
          '200': { description: 'The checks\' results (JSON, or text with format=text).', content: { 'application/json': { schema: { type: 'object' } }, 'text/plain': { schema: { type: 'string' } } } },
          '400': ref('BadRequest'),
          ...authResponses('read'),
          '503': ref('Unavailable'),
        },
      },
    },
    '/api/reports/latest': {
      get: {
        operationId: 'reports.latest',
        summary: 'The latest stored report of a checklist',
        tags: ['reports'],
        ...accessFields('read'),
        parameters: parametersFrom(toSchema(latestReportQuery)),
        responses: { '200': { description: 'The report.', content: reportContent }, '400': ref('BadRequest'), ...authResponses('read'), '404': ref('NotFound'), '503': ref('Unavailable') },
      },
    },
    '/api/reports/{id}': {
      get: {
        operationId: 'reports.byId',
        summary: 'One stored report',
        tags: ['reports'],
        ...accessFields('read'),
        parameters: [
          ...parametersFrom(toSchema(reportByIdQuery), 'path', (n) => n === 'id'),
          ...parametersFrom(toSchema(reportByIdQuery), 'query', (n) => n !== 'id'),
        ],
        responses: { '200': { description: 'The report.', content: reportContent }, '400': ref('BadRequest'), ...authResponses('read'), '404': ref('NotFound'), '503': ref('Unavailable') },
      },
    },
    '/api/incidents': {
      get: {
        operationId: 'incidents.list',
        summary: 'Incidents, newest first: filter by state and by a time range they were open in; keyset-paged (next → cursor)',
        tags: ['incidents'],
        ...accessFields('read'),
        parameters: parametersFrom(toSchema(incidentListQuery)),
        responses: {
          '200': { description: '`{"incidents":[…],"next"?,"requestId"}`', content: { 'application/json': { schema: { type: 'object' } } } },
          '400': ref('BadRequest'),
          ...authResponses('read'),
          '503': ref('Unavailable'),
        },
      },
    },
    '/api/incidents/{id}': {
      get: {
        operationId: 'incidents.byId',
        summary: 'One incident: root cause, suppressed checks, snapshots, results over time, audited actions, notifications, time to resolution',
        tags: ['incidents'],
        ...accessFields('read'),
        parameters: parametersFrom(toSchema(incidentByIdQuery), 'path'),
        responses: {
          '200': { description: '`{"incident":{…},"requestId"}`', content: { 'application/json': { schema: { type: 'object' } } } },
          '400': ref('BadRequest'),
          ...authResponses('read'),
          '404': ref('NotFound'),
          '503': ref('Unavailable'),
        },
      },
    },
    '/api/incidents/{id}/postmortem': {
      get: {
        operationId: 'incidents.postmortem',
        summary: 'The post-mortem draft of an incident, as Markdown',
        tags: ['incidents'],
        ...accessFields('read'),
        parameters: parametersFrom(toSchema(incidentByIdQuery), 'path'),
        responses: {
          '200': { description: 'The draft.', content: { 'text/markdown': { schema: { type: 'string' } } } },
          '400': ref('BadRequest'),
          ...authResponses('read'),
          '404': ref('NotFound'),
          '503': ref('Unavailable'),
        },
      },
    },
    '/api/heartbeats/{name}': {
      get: pingOp('heartbeats.ping', 'A scheduled job reports success'),
      post: pingOp('heartbeats.ping.post', 'A scheduled job reports success (with its log tail)'),
    },
    '/api/heartbeats/{name}/{action}': {
      get: pingOp('heartbeats.signal', 'A job reports start, failure or its exit code', [actionParam]),
      post: pingOp('heartbeats.signal.post', 'A job reports start, failure or its exit code (with its log tail)', [actionParam]),
    },
    '/api/cron/{job}': {
      get: {
        operationId: 'cron',
        summary: 'Run a scheduled job (what Vercel cron calls)',
        tags: ['cron'],
        ...accessFields('cron'),
        parameters: [{ name: 'job', in: 'path', required: true, schema: { type: 'string', maxLength: 64 } }],
        responses: {
          '200': { description: 'The job\'s typed result.', content: { 'application/json': { schema: { type: 'object' } } } },
          ...authResponses('cron'),
          '404': ref('NotFound'),
          '500': ref('Internal'),
          '503': ref('Unavailable'),
        },
      },
    },
  };
}

/** `/api/heartbeats/[name]` (the file system's form) → `/api/heartbeats/{name}` (OpenAPI's). */
export function openApiPath(pattern: string): string {
  return pattern.replace(/\[([^\]]+)\]/g, '{$1}');
}

let cached: { actions: readonly ActionDefinition<any>[]; count: number; doc: Json } | undefined;

/** The document, built once per instance (and again if the table changed, which only tests do). */
export function openApiDocument(actions: readonly ActionDefinition<any>[] = ACTIONS): Json {
  if (cached && cached.actions === actions && cached.count === actions.length) return cached.doc;
  const paths: Record<string, Json> = otherPaths();
  for (const def of actions) {
    const p = (paths[def.path] ??= {});
    p[def.method.toLowerCase()] = actionOperation(def);
  }
  const doc: Json = {
    openapi: '3.1.1',
    info: {
      title: 'Opsbook',
      version: '0.1.0',
      summary: 'The runbook that runs itself: health, diagnostics, reports, heartbeats and audited admin actions.',
      description: `Every error has the shape \`{"error":{"code","message","details"?},"requestId"}\`. ${ROLE_TEXT}`,
    },
    tags: [...new Set(Object.values(paths).flatMap((ops) => Object.values(ops).flatMap((op) => ((op as Json).tags as string[] | undefined) ?? [])))].sort().map((name) => ({ name })),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: components(actions),
  };
  cached = { actions, count: actions.length, doc };
  return doc;
}
