import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { GET as openapiRoute } from '../../api/openapi.json.js';
import { ACTIONS } from '../../lib/admin/registry.js';
import { ERROR_CODES } from '../../lib/errors.js';
import { actionInputSchema, openApiDocument, openApiPath, toSchema } from '../../lib/openapi.js';
import { discoverRoutes } from '../../lib/runner/routes.js';

type J = Record<string, any>;
const ROOT = resolve(import.meta.dirname, '..', '..');
const doc = openApiDocument() as J;
const clone = (): J => JSON.parse(JSON.stringify(doc));

/** Follow a local `#/…` reference. */
function deref(node: J): J {
  if (typeof node?.$ref !== 'string') return node;
  return (node.$ref as string).slice(2).split('/').reduce((n: J, part) => n[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 for a standard validator, and every $ref resolves', async () => {
    const validator = new Validator();
    const res = await validator.validate(clone());
    expect(res.errors ?? []).toEqual([]);
    expect(res.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();
  });

  it.each<[string, (d: J) => void]>([
    ['a response without a description', (d) => delete d.paths['/api/admin/tokens'].post.responses['200'].description],
    ['an info without a title', (d) => delete d.info.title],
    ['a parameter in an unknown place', (d) => (d.paths['/api/admin/audit'].get.parameters[0].in = 'body')],
    ['a security scheme of an unknown type', (d) => (d.components.securitySchemes.bearerAuth.type = 'token')],
  ])('the validator is not a rubber stamp: %s is refused', async (_what, breakIt) => {
    const broken = clone();
    breakIt(broken);
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it.each(ACTIONS.map((a) => [`${a.method} ${a.path} (${a.id})`, a] as const))('documents %s: role, schema, dry run and confirm, idempotency, responses', (_name, def) => {
    const op = doc.paths[def.path]?.[def.method.toLowerCase()] as J;
    expect(op, `${def.path} ${def.method} is missing`).toBeDefined();
    expect(op.operationId).toBe(def.id);
    expect(op['x-opsbook-role']).toBe(def.role);
    expect(op.security).toEqual([{ bearerAuth: [def.role] }]);
    expect(op.description).toContain(`**${def.role}** role`);

    const input = toSchema(actionInputSchema(def));
    const keys = Object.keys(input.properties ?? {});
    if (def.mutates) expect(keys).toEqual(expect.arrayContaining(['dryRun', 'confirm']));
    if (def.method === 'POST') {
      expect(deref(op.requestBody.content['application/json'].schema)).toEqual(input);
      expect(op.parameters.map((p: J) => deref(p).name)).toEqual(def.mutates ? ['Idempotency-Key'] : []);
    } else {
      expect(op.requestBody).toBeUndefined();
      expect(op.parameters.map((p: J) => p.name).sort()).toEqual([...keys].sort());
      for (const p of op.parameters) expect(p.in).toBe('query');
    }

    const codes = Object.keys(op.responses);
    expect(codes).toEqual(expect.arrayContaining(['200', '400', '401', '403', '429', '503']));
    expect(codes.includes('409')).toBe(def.mutates);
    expect(codes.includes('428')).toBe(def.mutates && def.confirm !== false);
    for (const code of codes.filter((c) => c !== '200')) {
      expect(deref(op.responses[code]).content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    }
  });

  it('every file under api/ is documented at its path, with the methods it exports', async () => {
    for (const route of discoverRoutes(join(ROOT, 'api'))) {
      const path = openApiPath(route.pattern);
      expect(doc.paths[path], `${route.pattern} is not in the document`).toBeDefined();
      const mod = (await import(pathToFileURL(route.file).href)) as Record<string, unknown>;
      const exported = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => typeof mod[m] === 'function').map((m) => m.toLowerCase());
      expect(Object.keys(doc.paths[path]).sort(), route.pattern).toEqual(exported.sort());
    }
  });

  it('the error shape is one component with the closed code enum of lib/errors.ts', () => {
    const error = doc.components.schemas.Error;
    expect(error.required).toEqual(['error', 'requestId']);
    expect(error.properties.error.required).toEqual(['code', 'message']);
    expect(Object.keys(error.properties.error.properties)).toEqual(['code', 'message', 'details']);
    expect(deref(error.properties.error.properties.code).enum).toEqual(Object.keys(ERROR_CODES));
  });

  it.each([
    ['/api/health', 'get', 'public'],
    ['/api/openapi.json', 'get', 'public'],
    ['/api/diagnostics', 'get', 'read'],
    ['/api/reports/latest', 'get', 'read'],
    ['/api/reports/{id}', 'get', 'read'],
    ['/api/incidents', 'get', 'read'],
    ['/api/incidents/{id}', 'get', 'read'],
    ['/api/incidents/{id}/postmortem', 'get', 'read'],
    ['/api/heartbeats/{name}', 'post', 'heartbeat'],
    ['/api/heartbeats/{name}/{action}', 'get', 'heartbeat'],
    ['/api/cron/{job}', 'get', 'cron'],
  ])('the other routes carry their access too: %s %s → %s', (path, method, access) => {
    const op = doc.paths[path][method];
    expect(op['x-opsbook-role']).toBe(access);
    if (access === 'cron') expect(op.security).toEqual([{ cronSecret: [] }]);
    else if (access === 'public') expect(op.security).toContainEqual({});
    else expect(op.security).toEqual([{ bearerAuth: [access] }]);
    for (const p of (op.parameters ?? []).filter((x: J) => x.in === 'path')) expect(path).toContain(`{${p.name}}`);
  });

  it('the diagnostics parameters come from its zod query schema', () => {
    const names = doc.paths['/api/diagnostics'].get.parameters.map((p: J) => p.name).sort();
    expect(names).toEqual(['format', 'only', 'playbook', 'queryText', 'snapshot', 'target']);
  });

  it('GET /api/openapi.json serves it without a token', async () => {
    const res = await openapiRoute(new Request('http://localhost/api/openapi.json'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(clone());
  });
});
