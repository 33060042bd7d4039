import { describe, expect, it } from 'vitest';
import { errorResponse, OpsbookError } from '../../lib/errors.js';
import { TimeoutError } from '../../lib/timeout.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('errorResponse: a dependency failing is 503, anything else unknown is 500', () => {
  it.each([
    ['a client-side timeout', new TimeoutError('postgres query', 1000)],
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432 postgres://u:pw-SECRET@db', 'ECONNREFUSED')],
    ['a reset connection', withCode('read ECONNRESET', 'ECONNRESET')],
    ['node-postgres losing its server', new Error('Connection terminated unexpectedly')],
    ['the pool timing out on connect', new Error('timeout exceeded when trying to connect')],
    ['Postgres shutting down (57P01)', withCode('terminating connection due to administrator command', '57P01')],
    ['too many connections (53300)', withCode('sorry, too many clients already', '53300')],
    ['a connection exception (08006)', withCode('connection failure', '08006')],
    ['a timeout wrapped as the cause', new Error('report delivery failed', { cause: new TimeoutError('resend send', 1000) })],
    ['every address refused (AggregateError)', new AggregateError([withCode('a', 'ECONNREFUSED'), withCode('b', 'ECONNREFUSED')], 'connect failed')],
  ])('%s → 503 DEPENDENCY_UNAVAILABLE, the driver text only in the log', async (_name, err) => {
    const logged: string[] = [];
    const res = errorResponse(err, 'req-1', (m) => logged.push(m));
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body).toMatchObject({ error: { code: 'DEPENDENCY_UNAVAILABLE', message: expect.stringMatching(/unavailable or did not answer/) }, requestId: 'req-1' });
    expect(JSON.stringify(body)).not.toContain((err as Error).message);
    expect(JSON.stringify(body)).not.toMatch(/SECRET|127\.0\.0\.1/);
    expect(logged).toHaveLength(1);
  });

  it.each([
    ['a bug', new TypeError('cannot read properties of undefined')],
    ['a query error (42P01)', withCode('relation "x" does not exist', '42P01')],
    ['a constraint violation (23505)', withCode('duplicate key', '23505')],
    ['a trigger refusing (P0001)', withCode('audit rows are append-only', 'P0001')],
    ['a thrown string', 'boom'],
  ])('%s → 500 INTERNAL with the fixed message', async (_name, err) => {
    const res = errorResponse(err, 'req-2', () => undefined);
    expect(res.status).toBe(500);
    expect((await res.json()).error).toEqual({ code: 'INTERNAL', message: 'Internal error. The request id identifies it in the logs.' });
  });

  it('an OpsbookError keeps its own code and message', async () => {
    const res = errorResponse(new OpsbookError('RATE_LIMITED', 'Too many.'), 'req-3');
    expect(res.status).toBe(429);
  });
});
