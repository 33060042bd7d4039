import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** One file under api/ and the URL pattern Vercel serves it at. */
export interface RouteEntry {
  /** e.g. /api/cron/[job] */
  pattern: string;
  /** Absolute path of the source file. */
  file: string;
  segments: Array<{ kind: 'static'; value: string } | { kind: 'param'; name: string }>;
}

const SOURCE = /\.(ts|mts|js|mjs)$/;

/**
 * Vercel's file-system routing for api/: every source file is a function at its path without the
 * extension, `index` names its folder, and `[name]` matches exactly one segment (outside Next.js it is
 * not a catch-all). Files and folders starting with `_` or `.` are not routes.
 */
export function discoverRoutes(apiDir: string): RouteEntry[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith('_') || name.startsWith('.')) continue;
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (SOURCE.test(name) && !name.endsWith('.d.ts') && !/\.test\.[mc]?[jt]s$/.test(name)) files.push(full);
    }
  };
  walk(apiDir);
  const routes = files.map((file) => {
    const parts = relative(apiDir, file).replace(SOURCE, '').split(sep);
    if (parts[parts.length - 1] === 'index') parts.pop();
    const segments = ['api', ...parts].map((p) => {
      const m = p.match(/^\[([A-Za-z_][\w-]*)\]$/);
      return m ? { kind: 'param' as const, name: m[1]! } : { kind: 'static' as const, value: p };
    });
    return { pattern: '/' + ['api', ...parts].join('/'), file, segments };
  });
  // Static routes win over dynamic ones at the same depth, as on Vercel; then the order is stable.
  return routes.sort((a, b) => specificity(b) - specificity(a) || a.pattern.localeCompare(b.pattern));
}

function specificity(r: RouteEntry): number {
  return r.segments.reduce((n, s, i) => n + (s.kind === 'static' ? 2 ** (16 - i) : 0), 0);
}

/** The route a path matches, and its parameters. Paths are compared segment by segment, decoded. */
export function matchRoute(routes: RouteEntry[], pathname: string): { route: RouteEntry; params: Record<string, string> } | undefined {
  const parts = pathname.replace(/\/+$/, '').split('/').slice(1);
  let decoded: string[];
  try {
    decoded = parts.map((p) => decodeURIComponent(p));
  } catch {
    return undefined;
  }
  for (const route of routes) {
    if (route.segments.length !== decoded.length) continue;
    const params: Record<string, string> = {};
    const ok = route.segments.every((s, i) => {
      const part = decoded[i]!;
      if (s.kind === 'static') return s.value === part;
      if (part === '') return false;
      params[s.name] = part;
      return true;
    });
    if (ok) return { route, params };
  }
  return undefined;
}
