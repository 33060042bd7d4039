// Proof for CI (issue 11): a Postgres without pg_stat_statements is no obstacle to `npm test`. Starts
// such a server (a throwaway cluster without the preload), runs Postgres test files with
// TEST_DATABASE_URL pointing at it, and checks they pass on the suite's own cluster instead.
//
//   npx tsx test/support/plain-postgres-proof.ts [test files…]
import { spawnSync } from 'node:child_process';
import { startPgCluster } from './pg-cluster.js';

const files = process.argv.slice(2).length ? process.argv.slice(2) : ['test/checks/postgres-statements.test.ts'];
const plain = await startPgCluster({ pgStatStatements: false, log: (line) => console.log(line.replace('[test]', '[proof]')) });
let code = 1;
try {
  console.log(`[proof] a Postgres without pg_stat_statements at ${plain.url}; running ${files.join(', ')} against it`);
  const r = spawnSync('npx', ['vitest', 'run', ...files], { env: { ...process.env, TEST_DATABASE_URL: plain.url }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = `${r.stdout}${r.stderr}`;
  process.stdout.write(out.split('\n').filter((l) => /\[test\]|Test Files|Tests |FAIL|Error/.test(l)).join('\n') + '\n');
  const switched = out.includes('pg_stat_statements is not in shared_preload_libraries; the suite uses its own PostgreSQL instead');
  if (r.status !== 0) console.error(`[proof] FAILED: vitest exited ${r.status}`);
  else if (!switched) console.error('[proof] FAILED: the suite did not say it switched to its own PostgreSQL');
  else code = 0;
} finally {
  await plain.stop();
}
if (code === 0) console.log('[proof] passed: the suite provided its own PostgreSQL');
process.exit(code);
