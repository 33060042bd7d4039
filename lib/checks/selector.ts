/**
 * How a selector names checks: one rule for diagnostics' `only`, checklist items, alert thresholds,
 * maintenance windows and playbooks.
 *
 * - `postgres.vacuum` names that check, `postgres` or `postgres.activity` a family or prefix;
 * - `@staging` restricts any of them to one target (`postgres@staging`, `postgres.vacuum@staging`);
 *   `@staging` alone is everything on that target;
 * - without `@`, a selector names the check on every target, so a checklist item `postgres.connections`
 *   covers staging's too.
 */

/** The target every check belongs to when its id names no other. */
export const MAIN_TARGET = 'main';

/** `postgres.vacuum@staging` → `{ base: 'postgres.vacuum', target: 'staging' }`; no `@` → target main. */
export function splitTarget(id: string): { base: string; target: string } {
  const at = id.indexOf('@');
  return at < 0 ? { base: id, target: MAIN_TARGET } : { base: id.slice(0, at), target: id.slice(at + 1) };
}

/** The id of a check from its base id on a target (`main` keeps the plain id, as before targets existed). */
export function targetId(base: string, target: string): string {
  return target === MAIN_TARGET ? base : `${base}@${target}`;
}

/** Does `selector` name the check with this id (and family, when known)? */
export function selectorMatches(selector: string, check: { id: string; family?: string }): boolean {
  const at = selector.indexOf('@');
  const base = at < 0 ? selector : selector.slice(0, at);
  const { base: id, target } = splitTarget(check.id);
  if (at >= 0 && selector.slice(at + 1) !== target) return false;
  return base === '' || id === base || id.startsWith(`${base}.`) || check.family === base;
}

/**
 * How specific a selector is, for "the most specific wins": the longer check part first (`postgres.vacuum`
 * over `postgres`), and on a tie the one naming a target (`postgres@staging` over `postgres`).
 */
export function selectorSpecificity(selector: string): number {
  return splitTarget(selector).base.length * 2 + (selector.includes('@') ? 1 : 0);
}

/** The snapshot kind a check stores and reads: the main target's as before, another target's under `@name`. */
export function snapshotKind(ctx: { target?: string }, kind: string): string {
  return ctx.target && ctx.target !== MAIN_TARGET ? `${kind}@${ctx.target}` : kind;
}
