/**
 * The renamed config keys (lib/config/unknown-keys.ts RENAMED_KEYS) as a config still writes them, and the
 * one problem each must be refused with: shared by the validateConfig and check-config tests.
 */
export const RENAMED_KEY_CASES = [
  {
    name: 'a cron schedule with "expr"',
    /** Where in the checklist the renamed key sits. */
    at: ['schedule'],
    checklist: { id: 'nightly', title: 'Nightly', schedule: { type: 'cron', expr: '0 3 * * *' }, items: [{ manual: 'Read the backup log' }] },
    problem: 'checklists.0.schedule: "expr" is now "cron" (the same word as heartbeats and maintenance windows): { type: "cron", cron: "0 3 * * *" }',
  },
  {
    name: 'a retention-delete with "table"',
    at: ['items', 1],
    checklist: {
      id: 'monthly',
      title: 'Monthly',
      schedule: { type: 'daily', at: '09:00' },
      items: [{ manual: 'x' }, { task: 'retention-delete', table: 'audit_logs', column: 'created_at', olderThanDays: 90 }],
    },
    problem:
      'checklists.0.items.1: "table" is now "tables" (a list, as analyze and vacuum-analyze take): { task: "retention-delete", tables: ["audit_logs"], column: "created_at", olderThanDays: 90 }',
  },
];
