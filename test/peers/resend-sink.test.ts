import { Resend } from 'resend';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startResendSink, type ResendSink } from './resend-sink.js';

let sink: ResendSink;
let resend: Resend;

const message = {
  from: 'Opsbook <alerts@opsbook.test>',
  to: 'oncall@example.test',
  subject: 'Checklist overdue',
  html: '<p>The nightly checklist is overdue.</p>',
  text: 'The nightly checklist is overdue.',
  headers: { 'X-Opsbook-Run': 'run-42' },
  tags: [{ name: 'kind', value: 'alert' }],
};

beforeAll(async () => {
  sink = await startResendSink();
  resend = new Resend('re_test_key', { baseUrl: sink.baseUrl });
});

afterAll(async () => {
  await sink.close();
});

beforeEach(() => {
  sink.clear();
  sink.setFault(null);
});

describe('resend sink with the real SDK', () => {
  it('emails.send with html, text, headers, tags and an idempotency key → recorded with every field', async () => {
    const { data, error } = await resend.emails.send(message, { idempotencyKey: 'alert/run-42' });
    expect(error).toBeNull();
    expect(data?.id).toEqual(expect.any(String));

    expect(sink.emails).toHaveLength(1);
    expect(sink.emails[0]).toMatchObject({
      id: data?.id,
      from: 'Opsbook <alerts@opsbook.test>',
      to: ['oncall@example.test'],
      subject: 'Checklist overdue',
      html: '<p>The nightly checklist is overdue.</p>',
      text: 'The nightly checklist is overdue.',
      headers: { 'X-Opsbook-Run': 'run-42' },
      tags: [{ name: 'kind', value: 'alert' }],
      idempotencyKey: 'alert/run-42',
      apiKey: 're_test_key',
    });
    expect(sink.emails[0]?.receivedAt).toBeInstanceOf(Date);
  });

  it('the same idempotency key with the same body → the same id and one stored email', async () => {
    const first = await resend.emails.send(message, { idempotencyKey: 'alert/replay' });
    const second = await resend.emails.send(message, { idempotencyKey: 'alert/replay' });
    expect(first.error).toBeNull();
    expect(second.error).toBeNull();
    expect(second.data?.id).toBe(first.data?.id);
    expect(sink.emails).toHaveLength(1);
    expect(sink.requests).toBe(2);
  });

  it('the same idempotency key with a different body → 409 invalid_idempotent_request, nothing stored', async () => {
    await resend.emails.send(message, { idempotencyKey: 'alert/conflict' });
    const { data, error } = await resend.emails.send(
      { ...message, subject: 'Something else' },
      { idempotencyKey: 'alert/conflict' },
    );
    expect(data).toBeNull();
    expect(error).toMatchObject({ statusCode: 409, name: 'invalid_idempotent_request' });
    expect(sink.emails).toHaveLength(1);
  });

  it('without an idempotency key the same body is sent twice', async () => {
    const a = await resend.emails.send(message);
    const b = await resend.emails.send(message);
    expect(a.data?.id).not.toBe(b.data?.id);
    expect(sink.emails).toHaveLength(2);
    expect(sink.emails[0]?.idempotencyKey).toBeUndefined();
  });

  it('setFault(500) → every send returns { error: internal_server_error } until cleared, then sends recover', async () => {
    sink.setFault(500);
    for (let i = 0; i < 2; i++) {
      const { data, error } = await resend.emails.send(message);
      expect(data).toBeNull();
      expect(error).toMatchObject({ statusCode: 500, name: 'internal_server_error' });
    }
    expect(sink.emails).toHaveLength(0);

    sink.setFault(null);
    const { error } = await resend.emails.send(message);
    expect(error).toBeNull();
    expect(sink.emails).toHaveLength(1);
  });

  it('setFault(429, 1) → one rate_limit_exceeded error with retry-after, then the next send succeeds', async () => {
    sink.setFault(429, 1);
    const limited = await resend.emails.send(message);
    expect(limited.error).toMatchObject({ statusCode: 429, name: 'rate_limit_exceeded' });
    expect(limited.headers?.['retry-after']).toBe('1');

    const next = await resend.emails.send(message);
    expect(next.error).toBeNull();
    expect(sink.emails).toHaveLength(1);
  });

  it('a faulted request does not claim its idempotency key: the retry with that key is sent once', async () => {
    sink.setFault(500, 1);
    const failed = await resend.emails.send(message, { idempotencyKey: 'alert/retry' });
    expect(failed.error?.name).toBe('internal_server_error');

    const retried = await resend.emails.send(message, { idempotencyKey: 'alert/retry' });
    const replayed = await resend.emails.send(message, { idempotencyKey: 'alert/retry' });
    expect(retried.error).toBeNull();
    expect(replayed.data?.id).toBe(retried.data?.id);
    expect(sink.emails).toHaveLength(1);
  });

  it('a missing subject → 422 missing_required_field', async () => {
    const { error } = await resend.emails.send({ from: message.from, to: message.to, text: 'x' } as never);
    expect(error).toMatchObject({ statusCode: 422, name: 'missing_required_field' });
    expect(sink.emails).toHaveLength(0);
  });

  it('the SDK refuses to construct without an API key, so a key-less request can only come from raw fetch → 401 missing_api_key', async () => {
    const saved = process.env.RESEND_API_KEY;
    delete process.env.RESEND_API_KEY;
    try {
      expect(() => new Resend(undefined, { baseUrl: sink.baseUrl })).toThrow(/Missing API key/);
    } finally {
      if (saved !== undefined) process.env.RESEND_API_KEY = saved;
    }

    const res = await fetch(`${sink.baseUrl}/emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'a@opsbook.test', to: 'b@example.test', subject: 's', text: 't' }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ statusCode: 401, name: 'missing_api_key' });
    expect(sink.emails).toHaveLength(0);
  });

  it('an API key outside the accepted list → 403 invalid_api_key', async () => {
    const strict = await startResendSink({ apiKeys: ['re_good'] });
    try {
      const bad = await new Resend('re_bad', { baseUrl: strict.baseUrl }).emails.send(message);
      expect(bad.error).toMatchObject({ statusCode: 403, name: 'invalid_api_key' });
      const good = await new Resend('re_good', { baseUrl: strict.baseUrl }).emails.send(message);
      expect(good.error).toBeNull();
      expect(strict.emails).toHaveLength(1);
    } finally {
      await strict.close();
    }
  });

  it('RESEND_BASE_URL is read when the client is constructed, not when the module is imported', async () => {
    const saved = process.env.RESEND_BASE_URL;
    process.env.RESEND_BASE_URL = sink.baseUrl;
    try {
      const fromEnv = new Resend('re_env_key');
      expect(fromEnv.baseUrl).toBe(sink.baseUrl);
      const { error } = await fromEnv.emails.send(message);
      expect(error).toBeNull();
      expect(sink.emails[0]?.apiKey).toBe('re_env_key');
    } finally {
      if (saved === undefined) delete process.env.RESEND_BASE_URL;
      else process.env.RESEND_BASE_URL = saved;
    }
  });
});
