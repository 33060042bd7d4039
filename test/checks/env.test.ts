import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { family } from '../../lib/checks/env.js';
import { parseConfig } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';

const VARS = ['OPSBOOK_TEST_REQ_A', 'OPSBOOK_TEST_REQ_B', 'OPSBOOK_TEST_REQ_C'] as const;

describe('env.required', () => {
  let harness: DbHarness;
  let deps: Deps;
  const saved = new Map(VARS.map((v) => [v, process.env[v]]));
  const run = async (requiredEnv: string[]) => {
    const report = await diagnose(deps, { checks: { requiredEnv } }, { only: ['env'] });
    return { report, r: report.byId('env.required') };
  };

  beforeAll(async () => {
    harness = await openDb('pglite');
    deps = await depsFor(harness.db);
  });
  afterEach(() => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  afterAll(async () => {
    await harness.close();
  });

  it('nothing required → no check at all', () => {
    expect(family.checks(parseConfig({}))).toEqual([]);
  });

  it('one check, env.required, needing nothing', () => {
    const checks = family.checks(parseConfig({ checks: { requiredEnv: ['A_VAR', 'B_VAR', 'A_VAR'] } }));
    expect(checks.map((c) => [c.id, c.family, c.severity, c.needs])).toEqual([['env.required', 'env', 'P2', []]]);
  });

  it('every required variable set → ok', async () => {
    process.env.OPSBOOK_TEST_REQ_A = 'value-a-secret';
    process.env.OPSBOOK_TEST_REQ_B = 'value-b-secret';
    const { r, report } = await run(['OPSBOOK_TEST_REQ_A', 'OPSBOOK_TEST_REQ_B']);
    expect(r.status).toBe('ok');
    expect(r.summary).toBe('all 2 required variables are set');
    expect(JSON.stringify(report)).not.toMatch(/value-[ab]-secret/);
  });

  it.each([
    { case: 'unset', value: undefined },
    { case: 'empty', value: '' },
    { case: 'blank', value: '   ' },
  ])('a variable that is $case counts as missing → fail listing the names only', async ({ value }) => {
    process.env.OPSBOOK_TEST_REQ_A = 'value-a-secret';
    delete process.env.OPSBOOK_TEST_REQ_C;
    if (value === undefined) delete process.env.OPSBOOK_TEST_REQ_B;
    else process.env.OPSBOOK_TEST_REQ_B = value;
    const { r, report } = await run([...VARS]);
    expect(r.status).toBe('fail');
    expect(r.summary).toBe('2 of 3 required variables missing: OPSBOOK_TEST_REQ_B, OPSBOOK_TEST_REQ_C');
    expect(r.details).toEqual([
      { name: 'OPSBOOK_TEST_REQ_B', set: false },
      { name: 'OPSBOOK_TEST_REQ_C', set: false },
    ]);
    expect(r.value).toBe(2);
    expect(r.hint?.text).toContain('OPSBOOK_TEST_REQ_B, OPSBOOK_TEST_REQ_C');
    expect(JSON.stringify(report)).not.toContain('value-a-secret');
  });
});
