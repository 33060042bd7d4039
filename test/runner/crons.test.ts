import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCrons, scheduleCrons } from '../../lib/runner/crons.js';

describe('the local runner fires vercel.json crons as the platform does', () => {
  it('reads the repository vercel.json: every cron has a path under /api/cron and a five-field schedule', () => {
    const crons = readCrons(join(process.cwd(), 'vercel.json'));
    expect(crons.length).toBeGreaterThan(0);
    for (const c of crons) {
      expect(c.path).toMatch(/^\/api\/cron\/[a-z0-9_-]+$/);
      expect(c.schedule.split(' ')).toHaveLength(5);
    }
  });

  it('on schedule, GET with Authorization: Bearer <CRON_SECRET>; stop() ends the schedule', async () => {
    const seen: Array<{ url?: string; headers: IncomingHttpHeaders }> = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      res.end('{"status":"completed"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    // croner accepts a seconds field, so this fires within a second instead of waiting for 09:00.
    const dir = mkdtempSync(join(tmpdir(), 'opsbook-crons-'));
    writeFileSync(join(dir, 'vercel.json'), JSON.stringify({ crons: [{ path: '/api/cron/daily', schedule: '* * * * * *' }] }));
    const lines: string[] = [];
    const crons = scheduleCrons(readCrons(join(dir, 'vercel.json')), { baseUrl: `http://127.0.0.1:${port}`, secret: 'cron-secret-0123456789', log: (l) => lines.push(l) });
    try {
      await expect.poll(() => seen.length, { timeout: 5000 }).toBeGreaterThan(0);
      expect(seen[0]).toMatchObject({ url: '/api/cron/daily', headers: { authorization: 'Bearer cron-secret-0123456789' } });
      await expect.poll(() => lines.join('\n'), { timeout: 5000 }).toContain('cron /api/cron/daily → 200');
      expect(lines.join('\n')).not.toContain('cron-secret-0123456789');
    } finally {
      crons.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
