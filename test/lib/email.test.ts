import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEmailSender, type EmailMessage } from '../../lib/email/index.js';
import { createOutboxSender } from '../../lib/email/outbox.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { OpsbookError } from '../../lib/errors.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { closedPort, startBlackHole } from '../support/faults.js';

const API_KEY = 're_test_SECRET_key_0123456789';

const message: EmailMessage = {
  from: 'Opsbook <alerts@opsbook.test>',
  to: ['oncall@example.test', 'lead@example.test'],
  subject: 'Checklist overdue',
  html: '<p>The nightly checklist is <b>overdue</b>.</p>',
  text: 'The nightly checklist is overdue.',
  headers: { 'X-Opsbook-Run': 'run-42' },
};

let sink: ResendSink;
let tmp: string;

beforeAll(async () => {
  sink = await startResendSink();
  tmp = await mkdtemp(join(tmpdir(), 'opsbook-email-'));
});

afterAll(async () => {
  await sink.close();
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  sink.clear();
  sink.setFault(null);
});

/** A fresh data dir per test, so outbox listings do not see each other's files. */
async function dataDir(): Promise<string> {
  return mkdtemp(join(tmp, 'data-'));
}

/** The rejection of `promise`, or a test failure when it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('outbox sender', () => {
  it('send → .html, .txt and a .json envelope (to, subject, headers) in <dataDir>/outbox; returns the html path', async () => {
    const dir = await dataDir();
    const logged: string[] = [];
    const sender = createOutboxSender(dir, (line) => logged.push(line));
    expect(sender.kind).toBe('outbox');

    const sent = await sender.send(message);

    const outbox = resolve(dir, 'outbox');
    const files = (await readdir(outbox)).sort();
    expect(files).toHaveLength(3);
    const base = files[0]!.replace(/\.[a-z]+$/, '');
    expect(files).toEqual([`${base}.html`, `${base}.json`, `${base}.txt`]);
    expect(sent.location).toBe(join(outbox, `${base}.html`));

    expect(await readFile(join(outbox, `${base}.html`), 'utf8')).toBe(message.html);
    expect(await readFile(join(outbox, `${base}.txt`), 'utf8')).toBe(message.text);
    const envelope = JSON.parse(await readFile(join(outbox, `${base}.json`), 'utf8'));
    expect(envelope).toMatchObject({
      id: sent.id,
      from: message.from,
      to: message.to,
      subject: message.subject,
      headers: { 'X-Opsbook-Run': 'run-42' },
      files: { html: sent.location, text: join(outbox, `${base}.txt`) },
    });
    expect(logged.join('\n')).toContain(sent.location);
  });

  it('no headers → the envelope records an empty header map', async () => {
    const dir = await dataDir();
    const { headers: _omit, ...bare } = message;
    await createOutboxSender(dir, () => undefined).send(bare);
    const outbox = resolve(dir, 'outbox');
    const json = (await readdir(outbox)).find((f) => f.endsWith('.json'))!;
    expect(JSON.parse(await readFile(join(outbox, json), 'utf8')).headers).toEqual({});
  });

  it('two messages without idempotency keys → two separate sets of files', async () => {
    const dir = await dataDir();
    const sender = createOutboxSender(dir, () => undefined);
    const [a, b] = await Promise.all([sender.send(message), sender.send({ ...message, subject: 'Second' })]);
    expect(a.location).not.toBe(b.location);
    expect(await readdir(resolve(dir, 'outbox'))).toHaveLength(6);
  });

  it('an idempotency key → it names the files; a replay with the same key writes nothing new', async () => {
    const dir = await dataDir();
    const sender = createOutboxSender(dir, () => undefined);
    const first = await sender.send({ ...message, idempotencyKey: 'daily/2024-05-01' });
    const replay = await sender.send({ ...message, idempotencyKey: 'daily/2024-05-01' });
    expect(first.location).toMatch(/daily_2024-05-01\.html$/);
    expect(replay).toEqual(first);
    expect(await readdir(resolve(dir, 'outbox'))).toHaveLength(3);
  });

  it('a different idempotency key → a new set of files', async () => {
    const dir = await dataDir();
    const sender = createOutboxSender(dir, () => undefined);
    await sender.send({ ...message, idempotencyKey: 'daily/2024-05-01' });
    await sender.send({ ...message, idempotencyKey: 'daily/2024-05-02' });
    expect(await readdir(resolve(dir, 'outbox'))).toHaveLength(6);
  });
});

describe('createEmailSender chooses from the environment', () => {
  it('no RESEND_API_KEY → the outbox under OPSBOOK_DATA_DIR', async () => {
    const dir = await dataDir();
    const sender = await createEmailSender(parseEnv({ OPSBOOK_DATA_DIR: dir }));
    expect(sender.kind).toBe('outbox');
    const sent = await sender.send(message);
    expect(sent.location.startsWith(resolve(dir, 'outbox'))).toBe(true);
    expect(sink.requests).toBe(0);
  });

  it('RESEND_API_KEY (and RESEND_BASE_URL) → Resend, delivering to that base URL', async () => {
    const dir = await dataDir();
    const sender = await createEmailSender(parseEnv({ RESEND_API_KEY: API_KEY, RESEND_BASE_URL: sink.baseUrl, OPSBOOK_DATA_DIR: dir }));
    expect(sender.kind).toBe('resend');
    const sent = await sender.send(message);
    expect(sent.location).toBe('resend');
    expect(sink.emails).toHaveLength(1);
    expect(sink.emails[0]?.apiKey).toBe(API_KEY);
    // Nothing written locally when Resend is configured.
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('resend sender against the Resend sink', () => {
  const sender = () => createResendSender(API_KEY, { baseUrl: sink.baseUrl, timeoutMs: 5000 });

  it('send → one email at the sink with from, to, subject, html, text, headers and the API key; returns its id', async () => {
    const sent = await sender().send({ ...message, idempotencyKey: 'alert/run-42' });
    expect(sink.emails).toHaveLength(1);
    expect(sink.emails[0]).toMatchObject({
      id: sent.id,
      from: message.from,
      to: message.to,
      subject: message.subject,
      html: message.html,
      text: message.text,
      headers: { 'X-Opsbook-Run': 'run-42' },
      idempotencyKey: 'alert/run-42',
      apiKey: API_KEY,
    });
    expect(sent.location).toBe('resend');
  });

  it('no idempotency key → none sent', async () => {
    await sender().send(message);
    expect(sink.emails[0]?.idempotencyKey).toBeUndefined();
  });

  it('a replay with the same idempotency key → one email, the same id', async () => {
    const s = sender();
    const first = await s.send({ ...message, idempotencyKey: 'daily/2024-05-01' });
    const replay = await s.send({ ...message, idempotencyKey: 'daily/2024-05-01' });
    expect(replay.id).toBe(first.id);
    expect(sink.requests).toBe(2);
    expect(sink.emails).toHaveLength(1);
  });

  it.each([
    [500, 'DEPENDENCY_UNAVAILABLE'],
    [503, 'DEPENDENCY_UNAVAILABLE'],
    [403, 'DEPENDENCY_UNAVAILABLE'],
    [429, 'RATE_LIMITED'],
  ] as const)('sink answers %i → rejects with OpsbookError %s, without the API key', async (status, code) => {
    sink.setFault(status);
    const err = await rejectionOf(sender().send(message));
    expect(err).toBeInstanceOf(OpsbookError);
    expect((err as OpsbookError).code).toBe(code);
    expect((err as OpsbookError).message).toContain(String(status));
    expect(`${(err as Error).message} ${JSON.stringify((err as OpsbookError).details ?? null)}`).not.toContain(API_KEY);
    expect(sink.emails).toHaveLength(0);
  });

  it('a failed send followed by a retry with the same idempotency key → delivered once', async () => {
    sink.setFault(500, 1);
    const s = sender();
    await expect(s.send({ ...message, idempotencyKey: 'retry/1' })).rejects.toBeInstanceOf(OpsbookError);
    await s.send({ ...message, idempotencyKey: 'retry/1' });
    expect(sink.emails).toHaveLength(1);
  });

  it('nothing listening → rejects with OpsbookError DEPENDENCY_UNAVAILABLE, without the API key', async () => {
    const port = await closedPort();
    const err = await rejectionOf(createResendSender(API_KEY, { baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 5000 }).send(message));
    expect(err).toBeInstanceOf(OpsbookError);
    expect((err as OpsbookError).code).toBe('DEPENDENCY_UNAVAILABLE');
    expect((err as Error).message).not.toContain(API_KEY);
  });

  it('a server that never answers → rejects after the timeout with OpsbookError DEPENDENCY_UNAVAILABLE', async () => {
    const hole = await startBlackHole();
    try {
      const err = await rejectionOf(createResendSender(API_KEY, { baseUrl: `http://127.0.0.1:${hole.port}`, timeoutMs: 200 }).send(message));
      expect(err).toBeInstanceOf(OpsbookError);
      expect((err as OpsbookError).code).toBe('DEPENDENCY_UNAVAILABLE');
      expect((err as Error).message).not.toContain(API_KEY);
      expect(hole.accepted).toBe(1);
    } finally {
      await hole.close();
    }
  });
});
