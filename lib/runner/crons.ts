import { readFileSync } from 'node:fs';
import { Cron } from 'croner';
import * as z from 'zod';

const vercelJsonSchema = z.object({
  crons: z.array(z.object({ path: z.string().startsWith('/'), schedule: z.string() })).default([]),
});

export type CronEntry = z.infer<typeof vercelJsonSchema>['crons'][number];

export function readCrons(vercelJsonPath: string): CronEntry[] {
  return vercelJsonSchema.parse(JSON.parse(readFileSync(vercelJsonPath, 'utf8'))).crons;
}

/**
 * Fire vercel.json's crons the way the platform does: on schedule, in UTC, as a GET with
 * `Authorization: Bearer <CRON_SECRET>`. Returns a stop function.
 */
export function scheduleCrons(
  crons: CronEntry[],
  opts: { baseUrl: string; secret: string; log: (line: string) => void },
): { stop(): void; next(): Array<{ path: string; schedule: string; next: Date | null }> } {
  const jobs = crons.map((c) => ({
    entry: c,
    cron: new Cron(c.schedule, { timezone: 'UTC', protect: true }, async () => {
      try {
        const res = await fetch(opts.baseUrl + c.path, {
          headers: { authorization: `Bearer ${opts.secret}`, 'user-agent': 'vercel-cron/1.0' },
          signal: AbortSignal.timeout(300_000),
        });
        opts.log(`cron ${c.path} → ${res.status} ${(await res.text()).slice(0, 300)}`);
      } catch (err) {
        opts.log(`cron ${c.path} failed: ${(err as Error).message}`);
      }
    }),
  }));
  return {
    stop: () => jobs.forEach((j) => j.cron.stop()),
    next: () => jobs.map((j) => ({ path: j.entry.path, schedule: j.entry.schedule, next: j.cron.nextRun() })),
  };
}
