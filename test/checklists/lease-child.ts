// A real runner for test/checklists/lease.test.ts, in its own process so the test can SIGKILL it mid-run:
// it runs one checklist with the production run engine against real Postgres, and its HTTP check hangs
// on the test's target until the process is killed. Input in the environment, nothing printed but errors.
import { runChecklist } from '../../lib/checklists/run.js';
import { createDeps } from '../../lib/deps.js';
import { parseEnv } from '../../lib/env.js';
import { leaseConfig } from './lease-config.js';

const { LEASE_DATABASE_URL, LEASE_TARGET_URL, LEASE_CHECKLIST, LEASE_NOW, LEASE_DATA_DIR } = process.env;
const deps = await createDeps(parseEnv({ DATABASE_URL: LEASE_DATABASE_URL, OPSBOOK_DATA_DIR: LEASE_DATA_DIR }));
await runChecklist(deps, leaseConfig(LEASE_TARGET_URL!), LEASE_CHECKLIST!, new Date(LEASE_NOW!));
await deps.db.close();
