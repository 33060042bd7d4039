import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverRoutes, matchRoute, type RouteEntry } from '../../lib/runner/routes.js';

let root: string;
let apiDir: string;
let routes: RouteEntry[];

const HANDLER = 'export function GET() { return new Response("ok"); }\n';

/** The api/ tree under test: routes, and files that must not become routes. */
const TREE = [
  'health.ts',
  'index.ts',
  'cron/[job].ts',
  'admin/users/lock.ts',
  'admin/users/[id].ts',
  'reports/index.mjs',
  'legacy.js',
  // Not routes:
  '_helper.ts',
  '.hidden.ts',
  'x.test.ts',
  'cron/daily.test.mts',
  'types.d.ts',
  '_lib/db.ts',
  '.cache/stale.ts',
  'README.md',
  'data.json',
];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'opsbook-routes-'));
  apiDir = join(root, 'api');
  for (const file of TREE) {
    const full = join(apiDir, file);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, HANDLER);
  }
  routes = discoverRoutes(apiDir);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('discoverRoutes', () => {
  it('every source file is a route at its path without the extension; static before dynamic', () => {
    expect(routes.map((r) => r.pattern)).toEqual([
      '/api/admin/users/lock',
      '/api/admin/users/[id]',
      '/api/cron/[job]',
      '/api/health',
      '/api/legacy',
      '/api/reports',
      '/api',
    ]);
  });

  it('a static route sorts before a dynamic sibling, whatever the alphabet says', () => {
    const patterns = routes.map((r) => r.pattern);
    expect(patterns.indexOf('/api/admin/users/lock')).toBeLessThan(patterns.indexOf('/api/admin/users/[id]'));
  });

  it.each([
    ['_helper.ts (leading underscore)', '_helper'],
    ['.hidden.ts (leading dot)', 'hidden'],
    ['x.test.ts (a test file)', '/api/x'],
    ['cron/daily.test.mts (a test file)', 'daily'],
    ['types.d.ts (a declaration file)', 'types'],
    ['_lib/ (an underscore folder)', '_lib'],
    ['.cache/ (a dot folder)', 'cache'],
    ['README.md (not source)', 'README'],
    ['data.json (not source)', 'data'],
  ])('%s → not a route', (_label, fragment) => {
    expect(routes.some((r) => r.pattern.includes(fragment) || relative(apiDir, r.file).includes(fragment))).toBe(false);
  });

  it('index names its folder; file paths are absolute', () => {
    const byPattern = new Map(routes.map((r) => [r.pattern, r]));
    expect(byPattern.get('/api')?.file).toBe(join(apiDir, 'index.ts'));
    expect(byPattern.get('/api/reports')?.file).toBe(join(apiDir, 'reports', 'index.mjs'));
    expect(byPattern.get('/api/cron/[job]')?.file).toBe(join(apiDir, 'cron', '[job].ts'));
  });

  it('[name] becomes a parameter segment', () => {
    const cron = routes.find((r) => r.pattern === '/api/cron/[job]');
    expect(cron?.segments).toEqual([
      { kind: 'static', value: 'api' },
      { kind: 'static', value: 'cron' },
      { kind: 'param', name: 'job' },
    ]);
  });

  it('the project api/ folder → its health and cron routes', () => {
    const project = discoverRoutes(join(import.meta.dirname, '..', '..', 'api')).map((r) => r.pattern);
    expect(project).toContain('/api/health');
    expect(project).toContain('/api/cron/[job]');
  });

  it('the incident routes: the list, one incident, and its post-mortem beside the [id] file', () => {
    const project = discoverRoutes(join(import.meta.dirname, '..', '..', 'api'));
    expect(project.map((r) => r.pattern)).toEqual(expect.arrayContaining(['/api/incidents', '/api/incidents/[id]', '/api/incidents/[id]/postmortem']));
    expect(matchRoute(project, '/api/incidents')?.route.pattern).toBe('/api/incidents');
    expect(matchRoute(project, '/api/incidents/42')).toMatchObject({ route: { pattern: '/api/incidents/[id]' }, params: { id: '42' } });
    expect(matchRoute(project, '/api/incidents/42/postmortem')).toMatchObject({ route: { pattern: '/api/incidents/[id]/postmortem' }, params: { id: '42' } });
  });
});

describe('matchRoute', () => {
  it.each([
    ['/api/health', '/api/health', {}],
    ['/api', '/api', {}],
    ['/api/', '/api', {}],
    ['/api/health/', '/api/health', {}],
    ['/api/health//', '/api/health', {}],
    ['/api/cron/daily', '/api/cron/[job]', { job: 'daily' }],
    ['/api/cron/daily/', '/api/cron/[job]', { job: 'daily' }],
    ['/api/admin/users/lock', '/api/admin/users/lock', {}],
    ['/api/admin/users/42', '/api/admin/users/[id]', { id: '42' }],
    ['/api/admin/users/locked', '/api/admin/users/[id]', { id: 'locked' }],
    ['/api/reports', '/api/reports', {}],
    ['/api/legacy', '/api/legacy', {}],
    // Percent-encoded segments are decoded before comparing.
    ['/api/%68ealth', '/api/health', {}],
    ['/api/admin/users/%6Cock', '/api/admin/users/lock', {}],
    ['/api/cron/da%69ly', '/api/cron/[job]', { job: 'daily' }],
    ['/api/admin/users/jane%20doe', '/api/admin/users/[id]', { id: 'jane doe' }],
    ['/api/admin/users/a%2Fb', '/api/admin/users/[id]', { id: 'a/b' }],
    ['/api/admin/users/%C3%A9', '/api/admin/users/[id]', { id: 'é' }],
  ])('%s → %s %j', (path, pattern, params) => {
    const match = matchRoute(routes, path);
    expect(match?.route.pattern).toBe(pattern);
    expect(match?.params).toEqual(params);
  });

  it.each([
    ['an unknown path', '/api/nope'],
    ['the root', '/'],
    ['outside /api', '/health'],
    ['an extra segment on a static route', '/api/health/extra'],
    ['an extra segment on a dynamic route', '/api/cron/daily/extra'],
    ['a missing parameter', '/api/cron'],
    ['an empty parameter in the middle', '/api/admin//42'],
    ['a file name with its extension', '/api/health.ts'],
    ['an excluded helper', '/api/_helper'],
    ['malformed percent-encoding', '/api/cron/%E0%A4%A'],
    ['a different case', '/api/HEALTH'],
  ])('%s (%s) → undefined', (_label, path) => {
    expect(matchRoute(routes, path)).toBeUndefined();
  });
});
