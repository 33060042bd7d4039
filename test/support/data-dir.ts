import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let dir: string | undefined;

/**
 * A temporary OPSBOOK_DATA_DIR for this test worker: a test's outbox mail and PGlite files never land
 * in the repository's .opsbook/ (a developer's own `npm start` data, and a folder the Vercel build
 * would otherwise trace into functions). test/support/repo-clean.ts fails a file that does.
 */
export function testDataDir(): string {
  dir ??= mkdtempSync(join(tmpdir(), 'opsbook-data-'));
  return dir;
}
