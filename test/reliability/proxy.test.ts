import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type FaultProxy } from '../support/faults.js';

/** A line-echo server: the service behind the proxy. */
async function startEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(`echo:${d.toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface Client {
  socket: Socket;
  received: () => string;
  /** Resolves with everything received once it contains `text`, or rejects after `ms`. */
  waitFor(text: string, ms?: number): Promise<string>;
  closed: Promise<void>;
}

function open(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    let data = '';
    const listeners = new Set<() => void>();
    const socket = connect({ port, host: '127.0.0.1' });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('data', (d) => {
      data += d.toString();
      for (const l of listeners) l();
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve({
        socket,
        received: () => data,
        closed,
        waitFor: (text, ms = 2000) =>
          new Promise((res, rej) => {
            const check = () => {
              if (!data.includes(text)) return;
              listeners.delete(check);
              clearTimeout(timer);
              res(data);
            };
            const timer = setTimeout(() => {
              listeners.delete(check);
              rej(new Error(`no "${text}" within ${ms} ms (got "${data}")`));
            }, ms);
            listeners.add(check);
            check();
          }),
      });
    });
  });
}

const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('startProxy: a switchable fault in front of a real service', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: FaultProxy;
  beforeAll(async () => {
    echo = await startEcho();
    proxy = await startProxy(echo.port);
  });
  afterAll(async () => {
    await proxy.close();
    await echo.close();
  });

  it('pass → bytes flow both ways', async () => {
    const c = await open(proxy.port);
    c.socket.write('a');
    await c.waitFor('echo:a');
    c.socket.destroy();
  });

  it('refuse → open connections are cut and the port refuses; pass → the same port answers again', async () => {
    const c = await open(proxy.port);
    await proxy.setMode('refuse');
    await c.closed;
    await expect(open(proxy.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.setMode('pass');
    const again = await open(proxy.port);
    again.socket.write('b');
    await again.waitFor('echo:b');
    again.socket.destroy();
  });

  it('hang → open and new connections stay open and silent; pass → what was sent meanwhile is answered', async () => {
    const before = await open(proxy.port);
    before.socket.write('x');
    await before.waitFor('echo:x');
    await proxy.setMode('hang');
    before.socket.write('y');
    const during = await open(proxy.port); // accepted: a hang is not a refusal
    during.socket.write('z');
    await quiet(300);
    expect(before.received()).toBe('echo:x');
    expect(during.received()).toBe('');
    expect(before.socket.destroyed || during.socket.destroyed).toBe(false);
    await proxy.setMode('pass');
    await before.waitFor('echo:y');
    await during.waitFor('echo:z');
    before.socket.destroy();
    during.socket.destroy();
  });

  it('hang then refuse → what was sent during the hang is never answered, and the connection is cut', async () => {
    const c = await open(proxy.port);
    c.socket.write('1');
    await c.waitFor('echo:1');
    await proxy.setMode('hang');
    c.socket.write('2');
    await quiet(200);
    await proxy.setMode('refuse');
    await c.closed;
    expect(c.received()).toBe('echo:1');
    await proxy.setMode('pass');
  });

  it('hangOn → the first matching write starts a hang and is held back; restart → it is lost, connections are cut, the port answers', async () => {
    const c = await open(proxy.port);
    proxy.hangOn(/COMMIT/);
    c.socket.write('BEGIN');
    await c.waitFor('echo:BEGIN');
    c.socket.write('COMMIT');
    await quiet(200);
    expect(proxy.mode).toBe('hang');
    expect(c.received()).toBe('echo:BEGIN');
    await proxy.restart();
    await c.closed;
    expect(c.received()).toBe('echo:BEGIN');
    expect(proxy.mode).toBe('pass');
    const again = await open(proxy.port);
    again.socket.write('COMMIT');
    await again.waitFor('echo:COMMIT');
    again.socket.destroy();
  });
});
