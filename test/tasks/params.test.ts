import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { parseColumnName, parseTableName, quoteQualified } from '../../lib/tasks/identifiers.js';
import { TASKS, taskByName } from '../../lib/tasks/registry.js';
import { withItem } from './context.js';

/** The config error's message, which names every problem by its path. */
function configError(item: Record<string, unknown>): string {
  try {
    parseConfig(withItem(item));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the config was accepted');
}

function parsedItem(item: Record<string, unknown>): Record<string, unknown> {
  return parseConfig(withItem(item)).checklists[0]!.items[0] as Record<string, unknown>;
}

describe('task registry', () => {
  it('registers the five maintenance tasks by name', () => {
    expect(TASKS.map((t) => t.name)).toEqual(['analyze', 'vacuum-analyze', 'retention-delete', 'snapshot', 'prune-history']);
    for (const t of TASKS) expect(taskByName(t.name)).toBe(t);
  });

  it('titles say what the task does, for the report', () => {
    expect(taskByName('analyze')!.title({ task: 'analyze' })).toBe('ANALYZE (whole database)');
    expect(taskByName('vacuum-analyze')!.title({ task: 'vacuum-analyze', tables: ['users'] })).toBe('VACUUM ANALYZE users');
    expect(taskByName('retention-delete')!.title({ task: 'retention-delete', tables: ['audit_logs'], column: 'created_at', olderThanDays: 90 })).toBe(
      'Delete audit_logs rows older than 90 days (by created_at)',
    );
    expect(taskByName('retention-delete')!.title({ task: 'retention-delete', tables: ['audit_logs', 'app.session_logs'], column: 'created_at', olderThanDays: 30 })).toBe(
      'Delete audit_logs, app.session_logs rows older than 30 days (by created_at)',
    );
    expect(taskByName('prune-history')!.title({ task: 'prune-history' })).toBe('Prune Opsbook history older than the retention period');
  });
});

describe('task params in the config', () => {
  it('retention-delete with olderThanDays 0 → the config fails naming the path', () => {
    expect(configError({ task: 'retention-delete', tables: ['t'], column: 'c', olderThanDays: 0 })).toMatch(/checklists\.0\.items\.0\.olderThanDays: Too small/);
  });

  it.each([
    { name: 'batchSize above 10000', item: { task: 'retention-delete', tables: ['t'], column: 'c', olderThanDays: 30, batchSize: 10_001 }, path: 'batchSize' },
    { name: 'maxBatches above 1000', item: { task: 'retention-delete', tables: ['t'], column: 'c', olderThanDays: 30, maxBatches: 1001 }, path: 'maxBatches' },
    { name: 'olderThanDays above 3650', item: { task: 'retention-delete', tables: ['t'], column: 'c', olderThanDays: 3651 }, path: 'olderThanDays' },
    { name: 'a fractional olderThanDays', item: { task: 'retention-delete', tables: ['t'], column: 'c', olderThanDays: 1.5 }, path: 'olderThanDays' },
    { name: 'a missing column', item: { task: 'retention-delete', tables: ['t'], olderThanDays: 30 }, path: 'column' },
    { name: 'prune-history days 0', item: { task: 'prune-history', days: 0 }, path: 'days' },
    { name: 'an empty tables list', item: { task: 'analyze', tables: [] }, path: 'tables' },
    { name: 'retention-delete with an empty tables list', item: { task: 'retention-delete', tables: [], column: 'c', olderThanDays: 30 }, path: 'tables' },
    { name: 'retention-delete without tables', item: { task: 'retention-delete', column: 'c', olderThanDays: 30 }, path: 'tables' },
    { name: 'retention-delete with 21 tables', item: { task: 'retention-delete', tables: Array.from({ length: 21 }, (_, i) => `t${i}`), column: 'c', olderThanDays: 30 }, path: 'tables' },
    { name: 'retention-delete with one table as a string, not a list', item: { task: 'retention-delete', tables: 'audit_logs', column: 'c', olderThanDays: 30 }, path: 'tables' },
  ])('$name → rejected at $path', ({ item, path }) => {
    expect(configError(item)).toContain(`checklists.0.items.0.${path}:`);
  });

  it('an unknown key on a task item is rejected, not ignored', () => {
    expect(configError({ task: 'snapshot', kinds: ['x'] })).toMatch(/checklists\.0\.items\.0.*kinds/);
  });

  it('an unknown task is rejected naming the known ones', () => {
    expect(configError({ task: 'reindex' })).toMatch(/checklists\.0\.items\.0\.task: unknown task "reindex" \(known: analyze, vacuum-analyze, retention-delete, snapshot, prune-history\)/);
  });

  it.each([
    { name: 'a statement after the table name', item: { task: 'retention-delete', tables: ['users; DROP TABLE x'], column: 'c', olderThanDays: 30 }, path: 'tables.0' },
    { name: 'an unterminated quote', item: { task: 'retention-delete', tables: ['ok_table', '"users'], column: 'c', olderThanDays: 30 }, path: 'tables.1' },
    { name: 'three dotted parts', item: { task: 'retention-delete', tables: ['db.public.users'], column: 'c', olderThanDays: 30 }, path: 'tables.0' },
    { name: 'a column with SQL in it', item: { task: 'retention-delete', tables: ['t'], column: 'created_at < now() OR 1=1', olderThanDays: 30 }, path: 'column' },
    { name: 'a qualified column', item: { task: 'retention-delete', tables: ['t'], column: 't.created_at', olderThanDays: 30 }, path: 'column' },
    { name: 'an analyze table with a comment', item: { task: 'analyze', tables: ['ok_table', 'users -- x'] }, path: 'tables.1' },
    { name: 'a vacuum table with a space', item: { task: 'vacuum-analyze', tables: ['order items'] }, path: 'tables.0' },
  ])('$name → invalid name at $path', ({ item, path }) => {
    expect(configError(item)).toMatch(new RegExp(`checklists\\.0\\.items\\.0\\.${path.replace('.', '\\.')}: invalid (table|column) name`));
  });

  it('retention-delete gets its batch defaults: 1000 rows, 100 batches', () => {
    expect(parsedItem({ task: 'retention-delete', tables: ['audit_logs'], column: 'created_at', olderThanDays: 90 })).toEqual({
      task: 'retention-delete',
      tables: ['audit_logs'],
      column: 'created_at',
      olderThanDays: 90,
      batchSize: 1000,
      maxBatches: 100,
    });
  });

  it('quoted names as the diagnostics hints write them are accepted', () => {
    expect(parsedItem({ task: 'vacuum-analyze', tables: ['"public"."Order Items"', 'public."AuditLogs"', 'app.sessions'] })).toEqual({
      task: 'vacuum-analyze',
      tables: ['"public"."Order Items"', 'public."AuditLogs"', 'app.sessions'],
    });
    expect(parsedItem({ task: 'retention-delete', tables: ['"AuditLogs"'], column: '"createdAt"', olderThanDays: 30 })).toMatchObject({ column: '"createdAt"' });
  });
});

describe('table and column names', () => {
  it.each([
    { input: 'users', schema: 'public', name: 'users' },
    { input: 'Users', schema: 'public', name: 'users' },
    { input: 'app.Sessions', schema: 'app', name: 'sessions' },
    { input: '"public"."Order Items"', schema: 'public', name: 'Order Items' },
    { input: 'public."AuditLogs"', schema: 'public', name: 'AuditLogs' },
    { input: '"a"";DROP"', schema: 'public', name: 'a";DROP' },
    { input: '"my.schema"."t"', schema: 'my.schema', name: 't' },
    { input: 'données', schema: 'public', name: 'données' },
  ])('$input → schema $schema, table $name (unquoted folds to lower case, quoted is exact)', ({ input, schema, name }) => {
    expect(parseTableName(input)).toEqual({ ok: true, value: { schema, name } });
  });

  it.each(['users; DROP TABLE x', 'users--', '"users', '""', 'a.b.c', 'a..b', '.users', '1users', 'users ', `"${'x'.repeat(64)}"`, '"a\0b"'])(
    '%j is not a table name',
    (input) => {
      expect(parseTableName(input).ok).toBe(false);
    },
  );

  it('a column is one identifier: createdAt folds, "createdAt" is kept', () => {
    expect(parseColumnName('createdAt')).toEqual({ ok: true, value: 'createdat' });
    expect(parseColumnName('"createdAt"')).toEqual({ ok: true, value: 'createdAt' });
    expect(parseColumnName('t.created_at').ok).toBe(false);
  });

  it('quoting doubles embedded double quotes, so a name can never end the identifier', () => {
    expect(quoteQualified({ schema: 'public', name: 'a";DROP TABLE x;--' })).toBe('"public"."a"";DROP TABLE x;--"');
  });
});
