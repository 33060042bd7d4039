/**
 * What the Slack, webhook and PagerDuty sinks share: an HTTP server on 127.0.0.1, the raw body, and
 * injected faults (an error status for the next N requests, with a Retry-After when given, which then refuses
 * every request until it has passed, as a rate limiter does; or a hang: the
 * request is accepted and never answered, until the fault is lifted or the sink is closed).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = { status: number; retryAfterSeconds?: number; body?: string } | 'hang';

export interface SinkServer {
  readonly baseUrl: string;
  /** Requests received, faulted and hung ones included. */
  readonly requests: number;
  setFault(fault: Fault | null, count?: number): void;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export async function startSinkServer(
  handle: (req: IncomingMessage, body: string) => Answer,
  faultAnswer: (status: number) => Answer,
): Promise<SinkServer & { resetRequests(): void }> {
  let requests = 0;
  let fault: { fault: Fault; remaining: number } | null = null;
  /** After a 429 with Retry-After, as a rate limiter does: every request before that moment is refused too. */
  let limitedUntil = 0;
  let limitedRetryAfter = 0;
  const hung = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const body = Buffer.concat(chunks).toString('utf8');
      let answer: Answer;
      if (Date.now() < limitedUntil) {
        const base = faultAnswer(429);
        answer = { ...base, headers: { ...base.headers, 'retry-after': String(limitedRetryAfter) } };
      } else if (fault) {
        const current = fault.fault;
        if (--fault.remaining <= 0) fault = null;
        if (current === 'hang') {
          hung.add(res);
          res.on('close', () => hung.delete(res));
          return;
        }
        const base = faultAnswer(current.status);
        answer = { ...base, body: current.body ?? base.body, headers: { ...base.headers, ...(current.retryAfterSeconds !== undefined ? { 'retry-after': String(current.retryAfterSeconds) } : {}) } };
        if (current.status === 429 && current.retryAfterSeconds) {
          limitedUntil = Date.now() + current.retryAfterSeconds * 1000;
          limitedRetryAfter = current.retryAfterSeconds;
        }
      } else {
        try {
          answer = handle(req, body);
        } catch (err) {
          answer = { status: 500, body: String(err) };
        }
      }
      res.writeHead(answer.status, { 'content-type': 'text/plain; charset=utf-8', ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    resetRequests: () => void (requests = 0),
    setFault(f, count) {
      fault = f === null ? null : { fault: f, remaining: count ?? Number.POSITIVE_INFINITY };
      if (f === null) {
        limitedUntil = 0;
        for (const res of hung) res.destroy();
      }
    },
    close() {
      for (const res of hung) res.destroy();
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
