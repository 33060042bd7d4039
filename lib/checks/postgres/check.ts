import type { Check } from '../types.js';

/** A maker of Postgres checks for one family: they all need Postgres and share the family name. */
export function postgresChecks(family: string): (id: string, title: string, severity: Check['severity'], run: Check['run']) => Check {
  return (id, title, severity, run) => ({ id, title, family, severity, needs: ['postgres'], run });
}
