import { connect, type Socket } from 'node:net';
import type { TcpCheckConfig } from '../config/index.js';
import { messageOf } from '../errors.js';
import { checkBudget } from './net/budget.js';
import { netError, timeoutError, type NetError } from './net/errors.js';
import { truncate } from './net/redact.js';
import { errored, fail, ok } from './outcome.js';
import type { Check, CheckFamily, Need } from './types.js';

/**
 * TCP reachability (runbook 000: libp2p bootstrap nodes reachable): a connection is opened and closed
 * at once, nothing is sent. A server that accepts and never answers is reachable as far as TCP goes.
 */
export const family: CheckFamily = {
  family: 'tcp',
  checks: (config) => config.checks.tcp.map(tcpCheck),
};

function tcpCheck(cfg: TcpCheckConfig): Check {
  const target = `${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}`;
  return {
    id: `tcp.${cfg.id}`,
    title: `TCP ${target}`,
    family: 'tcp',
    severity: cfg.severity,
    needs: ['network', ...(cfg.needs as Need[])],
    async run(ctx) {
      const ms = checkBudget(ctx.timeoutMs, cfg.timeoutMs).callMs();
      const started = performance.now();
      const r = await connectOnce(cfg.host, cfg.port, ms);
      if (r.kind === 'invalid') return errored(`could not connect: ${truncate(r.message, 200)}`, { hint: { text: `Check host and port in checks.tcp "${cfg.id}".` } });
      if (r.kind === 'network') {
        const summary = r.error.timedOut ? `no connection to ${target} within ${ms} ms` : `${target}: ${r.error.message}`;
        return fail(summary, {
          details: [{ host: cfg.host, port: cfg.port, error: r.error.code }],
          hint: {
            text: r.error.timedOut
              ? `Packets to ${target} get no answer: is the host up, and does a firewall or security group drop the port?`
              : `Is the service listening on ${target}? Check its process and the firewall rules.`,
          },
        });
      }
      const latencyMs = Math.round(performance.now() - started);
      return ok(`connected to ${target} in ${latencyMs} ms`, {
        value: latencyMs,
        unit: 'ms',
        details: [{ host: cfg.host, port: cfg.port, address: r.address, latencyMs }],
      });
    },
  };
}

/** Open and close one connection. Never throws; the socket is always destroyed. */
function connectOnce(host: string, port: number, ms: number): Promise<{ kind: 'ok'; address?: string } | { kind: 'network'; error: NetError } | { kind: 'invalid'; message: string }> {
  return new Promise((resolve) => {
    let socket: Socket;
    try {
      socket = connect({ host, port });
    } catch (err) {
      resolve({ kind: 'invalid', message: messageOf(err) });
      return;
    }
    let settled = false;
    const finish = (r: { kind: 'ok'; address?: string } | { kind: 'network'; error: NetError }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'network', error: timeoutError(ms) }), ms);
    socket.once('connect', () => finish({ kind: 'ok', address: socket.remoteAddress }));
    socket.on('error', (err) => finish({ kind: 'network', error: netError(err) ?? { code: 'ERROR', message: truncate(messageOf(err), 200), timedOut: false, retryable: false } }));
  });
}
