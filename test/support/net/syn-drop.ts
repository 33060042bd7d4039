import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';

/**
 * A port on 127.0.0.1 where a TCP connect hangs: the only way a connect-only probe times out without
 * leaving the machine. (A black hole that accepts is reachable as far as TCP goes.) A child process
 * listens with a backlog of 1 and is then stopped (SIGSTOP), so it never accepts; once the kernel's
 * accept queue is full, new SYNs are dropped and connects wait until their own timeout.
 */
export interface SynDrop {
  port: number;
  close(): Promise<void>;
}

export async function startSynDrop(): Promise<SynDrop> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['-e', "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))"],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const fillers: Socket[] = [];
  const close = async () => {
    for (const s of fillers) s.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      child.once('exit', () => reject(new Error('syn-drop listener exited')));
    });
    child.kill('SIGSTOP');
    // Fill the accept queue: connects complete until it is full; the first that hangs proves it.
    for (let i = 0; i < 64; i++) {
      const outcome = await new Promise<'connected' | 'pending'>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        fillers.push(s);
        const t = setTimeout(() => resolve('pending'), 200);
        s.once('connect', () => (clearTimeout(t), resolve('connected')));
        s.on('error', (e) => (clearTimeout(t), reject(e)));
      });
      if (outcome === 'pending') return { port, close };
    }
    throw new Error('accept queue never filled');
  } catch (err) {
    await close();
    throw err;
  }
}
