import { Resolver } from 'node:dns/promises';
import type { DnsCheckConfig } from '../config/index.js';
import { messageOf } from '../errors.js';
import { TimeoutError, withTimeout } from '../timeout.js';
import { checkBudget } from './net/budget.js';
import { errorCode } from './net/errors.js';
import { truncate } from './net/redact.js';
import { errored, fail, ok } from './outcome.js';
import type { Check, CheckFamily, CheckOutcome, Need } from './types.js';

const SHOWN_ANSWERS = 5;

/**
 * DNS checks: resolve one record type, optionally requiring some answers. Asks a DNS server (the
 * configured one, or the system's), not /etc/hosts.
 */
export const family: CheckFamily = {
  family: 'dns',
  checks: (config) => config.checks.dns.map(dnsCheck),
};

function dnsCheck(cfg: DnsCheckConfig): Check {
  return {
    id: `dns.${cfg.id}`,
    title: `DNS ${cfg.type} ${cfg.name}`,
    family: 'dns',
    severity: cfg.severity,
    needs: ['network', ...(cfg.needs as Need[])],
    run: (ctx) => runDns(cfg, ctx.timeoutMs),
  };
}

async function runDns(cfg: DnsCheckConfig, runnerTimeoutMs: number): Promise<CheckOutcome> {
  const ms = checkBudget(runnerTimeoutMs, cfg.timeoutMs).callMs();
  const where = `checks.dns "${cfg.id}"`;
  const server = cfg.server ?? 'the system resolver';
  // c-ares waits `timeout` on the first try and about twice that on the second: two tries fit in `ms`,
  // and withTimeout below is the hard stop.
  const resolver = new Resolver({ timeout: Math.max(50, Math.floor(ms / 3)), tries: 2 });
  if (cfg.server) {
    try {
      resolver.setServers([cfg.server]);
    } catch (err) {
      return errored(`server ${cfg.server} is not usable: ${truncate(messageOf(err), 120)}`, {
        hint: { text: `Set server in ${where} to an IP address, optionally with a port: "1.1.1.1", "10.0.0.2:53", "[2606:4700::1111]:53".` },
      });
    }
  }
  const label = `${cfg.type} ${cfg.name}`;
  const details = (extra: Record<string, unknown> = {}): Array<Record<string, unknown>> => [{ name: cfg.name, type: cfg.type, server, ...extra }];
  const started = performance.now();
  let answers: string[];
  try {
    answers = await withTimeout(() => resolve(resolver, cfg), ms, `dns ${label}`, () => resolver.cancel());
  } catch (err) {
    const code = err instanceof TimeoutError ? 'ETIMEOUT' : (errorCode(err) ?? 'UNKNOWN');
    const failed = DNS_ERRORS[code];
    if (failed) return fail(failed.summary(cfg, ms, server), { details: details({ error: code }), hint: { text: failed.fix(cfg, where) } });
    if (code === 'EBADNAME' || code === 'EBADQUERY' || code === 'EBADFAMILY') {
      return errored(`${cfg.name} is not a name that can be queried (${code})`, { hint: { text: `Fix name in ${where}.` } });
    }
    return fail(`${label} could not be resolved: ${truncate(messageOf(err), 160)}`, { details: details({ error: code }) });
  }
  const latencyMs = Math.round(performance.now() - started);
  const shown = answers.slice(0, SHOWN_ANSWERS).map((a) => truncate(a, 120));
  const more = answers.length > SHOWN_ANSWERS ? ` (+${answers.length - SHOWN_ANSWERS} more)` : '';
  const extra = { value: latencyMs, unit: 'ms', details: details({ answers: answers.slice(0, 20).map((a) => truncate(a, 300)), latencyMs }) };

  const missing = (cfg.expect ?? []).filter((e) => !answers.some((a) => matches(cfg.type, a, e)));
  if (missing.length) {
    extra.details[0]!.missing = missing;
    return fail(`${label} is missing ${missing.map((m) => truncate(m, 80)).join(', ')} (got ${shown.join(', ')}${more})`, {
      ...extra,
      hint: { text: `Fix the ${cfg.type} records of ${cfg.name} at the DNS provider, or update expect in ${where}. Changes take the record's TTL to spread.` },
    });
  }
  return ok(`${label} → ${shown.join(', ')}${more}`, extra);
}

const DNS_ERRORS: Record<string, { summary(cfg: DnsCheckConfig, ms: number, server: string): string; fix(cfg: DnsCheckConfig, where: string): string }> = {
  ENOTFOUND: {
    summary: (cfg) => `${cfg.name} does not exist (NXDOMAIN)`,
    fix: (cfg) => `Create the ${cfg.type} record for ${cfg.name} at the DNS provider (or check the domain's registration and nameservers).`,
  },
  ENODATA: {
    summary: (cfg) => `${cfg.name} has no ${cfg.type} records`,
    fix: (cfg) => `Add the ${cfg.type} record for ${cfg.name} at the DNS provider.`,
  },
  ETIMEOUT: {
    summary: (_cfg, ms, server) => `no answer from ${server} within ${ms} ms`,
    fix: () => 'Is the DNS server reachable (UDP and TCP port 53)? Check the nameservers of the domain.',
  },
  ECANCELLED: {
    summary: (_cfg, ms, server) => `no answer from ${server} within ${ms} ms`,
    fix: () => 'Is the DNS server reachable (UDP and TCP port 53)? Check the nameservers of the domain.',
  },
  ESERVFAIL: {
    summary: (cfg) => `server failure (SERVFAIL) resolving ${cfg.name}`,
    fix: () => "The domain's nameservers failed to answer (broken delegation or DNSSEC?): check them at the registrar.",
  },
  EREFUSED: {
    summary: (cfg, _ms, server) => `${server} refused the query for ${cfg.name} (REFUSED)`,
    fix: () => 'The server does not answer for this name: check the server setting and the nameservers.',
  },
  ECONNREFUSED: {
    summary: (_cfg, _ms, server) => `${server} refused the connection`,
    fix: (_cfg, where) => `Is a DNS server listening at the server of ${where}?`,
  },
  EFORMERR: {
    summary: (cfg, _ms, server) => `${server} could not read the query for ${cfg.name} (FORMERR)`,
    fix: () => 'Check the DNS server.',
  },
  EBADRESP: {
    summary: (cfg, _ms, server) => `bad answer from ${server} for ${cfg.name}`,
    fix: () => 'Check the DNS server.',
  },
};

async function resolve(resolver: Resolver, cfg: DnsCheckConfig): Promise<string[]> {
  switch (cfg.type) {
    case 'A':
      return resolver.resolve4(cfg.name);
    case 'AAAA':
      return resolver.resolve6(cfg.name);
    case 'CNAME':
      return resolver.resolveCname(cfg.name);
    case 'NS':
      return resolver.resolveNs(cfg.name);
    case 'MX':
      return (await resolver.resolveMx(cfg.name)).sort((a, b) => a.priority - b.priority).map((r) => `${r.priority} ${r.exchange}`);
    case 'TXT':
      return (await resolver.resolveTxt(cfg.name)).map((chunks) => chunks.join(''));
  }
}

/** Names compare case-insensitively and without a trailing dot; TXT exactly; MX by "prio host" or host. */
function matches(type: DnsCheckConfig['type'], answer: string, expected: string): boolean {
  if (type === 'TXT') return answer === expected;
  const norm = (s: string) => s.trim().toLowerCase().replace(/\.$/, '');
  if (norm(answer) === norm(expected)) return true;
  if (type === 'MX') return norm(answer.slice(answer.indexOf(' ') + 1)) === norm(expected);
  if (type === 'AAAA') return expandIpv6(answer) === expandIpv6(expected);
  return false;
}

function expandIpv6(ip: string): string {
  const [head = '', tail] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(Math.max(0, 8 - h.length - t.length)).fill('0');
  return [...h, ...fill, ...t].map((g) => g.replace(/^0+(?=.)/, '')).join(':');
}
