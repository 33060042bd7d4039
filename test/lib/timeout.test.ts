import { connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError, withTimeout } from '../../lib/timeout.js';

/**
 * withTimeout's deadlines come from deliberate faults here: a peer that never answers, and a main thread
 * kept busy past the deadline by the test itself while a peer in another thread answers at once.
 */
describe('withTimeout', () => {
  let port: number;
  let worker: Worker;
  // Set by the peer once it has written its answer: the busy thread can read it without its event loop.
  const written = new Int32Array(new SharedArrayBuffer(4));
  let silent: Server;
  let silentPort: number;
  const held = new Set<Socket>();

  beforeAll(async () => {
    // An echo peer on its own thread: it answers while this thread is blocked.
    worker = new Worker(
      `const { createServer } = require('node:net'); const { parentPort, workerData } = require('node:worker_threads');
       const s = createServer((c) => c.on('data', (d) => c.write(d, () => Atomics.store(workerData, 0, 1))));
       s.listen(0, '127.0.0.1', () => parentPort.postMessage(s.address().port));`,
      { eval: true, workerData: written },
    );
    port = await new Promise<number>((r) => worker.once('message', r));
    // Reads and ignores: a socket that is never read would never see the client's close, and close() would wait.
    silent = createServer((socket) => {
      held.add(socket);
      socket.on('error', () => undefined).resume();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    // Cleanup is bounded: a slow teardown on a busy machine must not hang the file.
    const bounded = (p: Promise<unknown>) => Promise.race([p, new Promise((r) => setTimeout(r, 5000).unref())]);
    await bounded(worker.terminate());
    await bounded(new Promise((r) => silent.close(r)));
  });

  const echo = (p: number) =>
    new Promise<{ answer: Promise<string>; send(): void; close(): void }>((resolve) => {
      const socket = connect(p, '127.0.0.1', () => {
        const answer = new Promise<string>((r) => socket.once('data', (d) => r(d.toString())));
        resolve({ answer, send: () => socket.write('ping'), close: () => socket.destroy() });
      });
    });

  it('an answer that arrived while the process was busy past the deadline → the answer, not a timeout', async () => {
    const c = await echo(port);
    const result = withTimeout(c.answer, 50, 'echo');
    Atomics.store(written, 0, 0);
    c.send();
    // Keep this thread busy past the deadline and until the peer has written its answer, however slow
    // the machine: the answer is then in the socket, waiting for this thread's event loop.
    const until = performance.now() + 200;
    const giveUp = until + 10_000; // a peer that never wrote must fail the test, not hang it
    while ((performance.now() < until || Atomics.load(written, 0) === 0) && performance.now() < giveUp) {
      // busy
    }
    expect(Atomics.load(written, 0)).toBe(1);
    await expect(result).resolves.toBe('ping');
    c.close();
  });

  it('a peer that never answers → TimeoutError after the deadline, and onTimeout is called once', async () => {
    const c = await echo(silentPort);
    let aborted = 0;
    c.send();
    await expect(withTimeout(c.answer, 50, 'silent peer', () => aborted++)).rejects.toBeInstanceOf(TimeoutError);
    expect(aborted).toBe(1);
    c.close();
  });

  it('work that settles in time → its value, and no timer is left behind', async () => {
    await expect(withTimeout(Promise.resolve(7), 50, 'quick')).resolves.toBe(7);
  });
});
