import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_NEEDS, validateActionMappings } from '../../lib/admin/app-schema.js';
import { ACTIONS } from '../../lib/admin/registry.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { openDb, type DbHarness } from '../support/drivers.js';

/** A config problem in an action's mapping is found at start (validateActionMappings), never a 500 at call time. */
describe.each(['pg', 'neon', 'pglite'] as const)('validateActionMappings over %s', (driver) => {
  let h: DbHarness;
  const exec = async (text: string) => (h.database ? void (await h.database.admin.query(text)) : h.db.exec(text));
  beforeAll(async () => {
    h = await openDb(driver);
    await exec(`CREATE SCHEMA app; CREATE TYPE app."Status" AS ENUM ('ACTIVE', 'SUSPENDED', 'BANNED');
      CREATE TABLE app.users (id int PRIMARY KEY, email text NOT NULL, status app."Status" NOT NULL, is_locked boolean NOT NULL DEFAULT false,
        suspended_at timestamptz, suspension_reason text, deleted_at timestamptz);
      CREATE TABLE app.api_keys (id uuid PRIMARY KEY, user_id int NOT NULL, revoked_at timestamptz)`);
  });
  afterAll(async () => {
    await h.close();
  });

  const GOOD = {
    schema: 'app',
    table: 'users',
    columns: { id: 'id', email: 'email', status: 'status', locked: 'is_locked', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason', deletedAt: 'deleted_at' },
  };
  const KEYS = { schema: 'app', table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at' } };
  const check = (app: OpsbookConfigInput['app']) => validateActionMappings({ db: h.db }, parseConfig({ app }));

  it.each<[string, OpsbookConfigInput['app'], string[]]>([
    ['no mapping at all', {}, []],
    ['mappings that fit the tables', { users: GOOD, apiKeys: KEYS }, []],
    ['a table that does not exist', { users: { ...GOOD, table: 'accounts' } }, ['app.users: table app.accounts does not exist.']],
    ['a users column that does not exist', { users: { ...GOOD, columns: { ...GOOD.columns, deletedAt: 'removed_at' } } }, ['Columns not found in app.users: app.users.columns.deletedAt = "removed_at".']],
    ['an API key column that does not exist', { apiKeys: { ...KEYS, columns: { ...KEYS.columns, userId: 'owner_id' } } }, ['Columns not found in app.api_keys: app.apiKeys.columns.userId = "owner_id".']],
    [
      'a lock state on a column that does not exist',
      { users: { schema: 'app', table: 'users', locked: { column: 'state', value: 'LOCKED' } } },
      ['Columns not found in app.users: app.users.locked.column = "state".'],
    ],
    [
      'a lock value the enum does not have',
      { users: { schema: 'app', table: 'users', locked: { column: 'status', value: 'LOCKED' } } },
      ["app.users.locked: its type app.\"Status\" has no value 'LOCKED' (it has 'ACTIVE', 'SUSPENDED', 'BANNED')."],
    ],
    [
      'a suspension value the enum does not have',
      { users: { ...GOOD, columns: { ...GOOD.columns, status: undefined }, suspended: { column: 'status', value: 'SUSPENDED', clear: 'ENABLED' } } },
      ["app.users.suspended: its type app.\"Status\" has no value 'ENABLED' (it has 'ACTIVE', 'SUSPENDED', 'BANNED')."],
    ],
    ['a boolean lock column given text values', { users: { schema: 'app', table: 'users', locked: { column: 'is_locked', value: 'yes' } } }, ['app.users.locked: "is_locked" is boolean, so its values must be true and false.']],
    [
      'a suspension state without the columns suspend writes',
      { users: { ...GOOD, columns: { id: 'id', email: 'email', status: 'status' } } },
      ['users.suspend: its state is mapped, but it also needs app.users.columns.suspendedAt, app.users.columns.suspensionReason.'],
    ],
  ])('%s → %j', async (_what, app, problems) => {
    expect(await check(app)).toEqual(problems);
  });

  it('every registered action that resolves a user or key table has its needs in ACTION_NEEDS', () => {
    const mapped = ACTIONS.filter((a) => /^\/api\/admin\/(users|api-keys)(\/|$)/.test(a.path)).map((a) => a.id);
    expect(Object.keys(ACTION_NEEDS).sort()).toEqual(mapped.sort());
  });
});
