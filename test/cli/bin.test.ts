// The installed entry point, as `npx opsbook` runs it: a real `node bin/opsbook.js` subprocess (tsx's
// loader, no build step) in the repository.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function opsbook(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['bin/opsbook.js', ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('node bin/opsbook.js', () => {
  it('--help → exit 0 with the usage text', async () => {
    const { code, stdout, stderr } = await opsbook('--help');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^opsbook — the runbook that runs itself\n\nUsage:\n {2}opsbook run <checklist>/);
  });

  it('check-config → exit 0: the repository’s opsbook.config.ts is valid, with its checklists listed', async () => {
    const { code, stdout, stderr } = await opsbook('check-config');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toBe('opsbook.config.ts: valid — Opsbook');
    for (const id of ['daily', 'weekly', 'monthly', 'quarterly']) expect(stdout).toContain(`  checklist ${id}: `);
  });
});
