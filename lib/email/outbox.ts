import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { EmailMessage, EmailSender, SentEmail } from './types.js';

/**
 * With no Resend key, every message becomes three files in `<dir>/outbox/`: the HTML to open in a
 * browser, the text part, and a JSON envelope (to, subject, headers) — so a local run shows exactly
 * what would have been sent. A repeated idempotency key writes nothing new, as Resend would.
 */
export function createOutboxSender(dataDir: string, log: (msg: string) => void = console.log): EmailSender {
  const dir = resolve(dataDir, 'outbox');
  return {
    kind: 'outbox',
    async send(message: EmailMessage): Promise<SentEmail> {
      await mkdir(dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      // The tail of the key is its most specific part (checklist and period): it is what is kept.
      const slug = message.idempotencyKey ? message.idempotencyKey.replace(/[^a-zA-Z0-9_-]+/g, '_').slice(-80) : randomUUID();
      if (message.idempotencyKey) {
        const previous = await findByIdempotencyKey(dir, slug, message.idempotencyKey);
        if (previous) return previous;
      }
      const base = join(dir, `${stamp}_${slug}`);
      const envelope = {
        id: slug,
        from: message.from,
        to: message.to,
        subject: message.subject,
        headers: message.headers ?? {},
        idempotencyKey: message.idempotencyKey,
        files: { html: `${base}.html`, text: `${base}.txt` },
      };
      await Promise.all([
        writeFile(`${base}.html`, message.html),
        writeFile(`${base}.txt`, message.text),
        writeFile(`${base}.json`, JSON.stringify(envelope, null, 2)),
      ]);
      log(`[opsbook] email "${message.subject}" written to ${base}.html`);
      return { id: slug, location: `${base}.html` };
    },
  };
}

/** The message an earlier send with this idempotency key wrote, if any (file names end in `_<slug>.json`). */
async function findByIdempotencyKey(dir: string, slug: string, key: string): Promise<SentEmail | undefined> {
  for (const name of await readdir(dir)) {
    if (!name.endsWith(`_${slug}.json`)) continue;
    try {
      const envelope = JSON.parse(await readFile(join(dir, name), 'utf8')) as { id: string; idempotencyKey?: string; files: { html: string } };
      if (envelope.idempotencyKey === key) return { id: envelope.id, location: envelope.files.html };
    } catch {
      // A half-written or hand-edited envelope is not a match.
    }
  }
  return undefined;
}
