// Every test file, after its tests: nothing new in the repository's .opsbook/. That folder is a
// developer's own `npm start` data (outbox, PGlite), and `vercel build` traced files there into the
// functions once, which failed the build. A test gives OPSBOOK_DATA_DIR a temporary directory
// (test/support/data-dir.ts). A global teardown cannot do this: vitest only logs its errors.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { afterAll, expect } from 'vitest';

const REPO_DATA_DIR = resolve(import.meta.dirname, '../../.opsbook');

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(relative(dir, full));
    }
  };
  walk(dir);
  return out;
}

const before = new Set(filesUnder(REPO_DATA_DIR));
afterAll(() => {
  const written = filesUnder(REPO_DATA_DIR).filter((f) => !before.has(f));
  expect(written, "files this run wrote into the repository's .opsbook/ (give the test OPSBOOK_DATA_DIR: testDataDir())").toEqual([]);
});
