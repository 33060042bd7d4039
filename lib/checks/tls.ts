import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, connect, rootCertificates, type DetailedPeerCertificate, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { TlsCheckConfig } from '../config/index.js';
import { messageOf } from '../errors.js';
import { checkBudget } from './net/budget.js';
import { netError, timeoutError, type NetError } from './net/errors.js';
import { truncate } from './net/redact.js';
import { errored, fail, ok, warn } from './outcome.js';
import type { Check, CheckFamily, CheckOutcome, CheckStatus, Need } from './types.js';

const DAY_MS = 86_400_000;

/**
 * TLS certificate checks (runbooks: "SSL expiry", "certbot expiry"): days to expiry, chain trust and
 * hostname. The handshake accepts any certificate and judges it afterwards, so an untrusted or
 * mismatched certificate still reports when it expires.
 */
export const family: CheckFamily = {
  family: 'tls',
  checks: (config) => config.checks.tls.map(tlsCheck),
};

function tlsCheck(cfg: TlsCheckConfig): Check {
  return {
    id: `tls.${cfg.id}`,
    title: `TLS certificate ${cfg.host}:${cfg.port}`,
    family: 'tls',
    severity: cfg.severity,
    needs: ['network', ...(cfg.needs as Need[])],
    async run(ctx, now) {
      // Node silently ignores a `ca` it cannot read, which would surface later as a puzzling "not trusted".
      const caProblem = cfg.ca === undefined ? undefined : pemProblem(cfg.ca);
      if (caProblem) return errored(`ca ${caProblem}`, { hint: { text: `Set ca in checks.tls "${cfg.id}" to the CA certificate in PEM form (-----BEGIN CERTIFICATE-----…).` } });
      const budget = checkBudget(ctx.timeoutMs, cfg.timeoutMs);
      const ms = budget.callMs();
      const hs = await handshake(cfg, ms);
      if (hs.kind === 'invalid') return errored(`could not start TLS: ${truncate(hs.message, 200)}`, { hint: { text: `Check host, port and ca in checks.tls "${cfg.id}".` } });
      if (hs.kind === 'network') {
        return fail(hs.error.timedOut ? `no TLS handshake within ${ms} ms` : `could not connect: ${hs.error.message}`, {
          details: [{ host: cfg.host, port: cfg.port, error: hs.error.code }],
          hint: { text: `Is ${cfg.host}:${cfg.port} up and serving TLS? Check the web server and firewall rules.` },
        });
      }
      return judge(cfg, hs, now);
    },
  };
}

interface Handshake {
  kind: 'ok';
  cert: DetailedPeerCertificate;
  authorized: boolean;
  authorizationError?: string;
  protocol: string | null;
}

/** Connect, read the certificate, disconnect. Never throws; the socket is always destroyed. */
function handshake(cfg: TlsCheckConfig, ms: number): Promise<Handshake | { kind: 'network'; error: NetError } | { kind: 'invalid'; message: string }> {
  return new Promise((resolve) => {
    let socket: TLSSocket;
    try {
      socket = connect({
        host: cfg.host,
        port: cfg.port,
        // SNI must be a name: RFC 6066 forbids IP addresses there.
        ...(isIP(cfg.host) ? {} : { servername: cfg.host }),
        rejectUnauthorized: false,
        // The hostname is judged separately, so `authorized` speaks of the chain alone.
        checkServerIdentity: () => undefined,
        // Extra CAs are trusted in addition to the usual roots, not instead of them.
        ...(cfg.ca ? { ca: [...rootCertificates, cfg.ca] } : {}),
      });
    } catch (err) {
      resolve({ kind: 'invalid', message: messageOf(err) });
      return;
    }
    let settled = false;
    const finish = (r: Handshake | { kind: 'network'; error: NetError }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'network', error: timeoutError(ms) }), ms);
    socket.once('secureConnect', () => {
      finish({
        kind: 'ok',
        cert: socket.getPeerCertificate(true),
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
        protocol: socket.getProtocol(),
      });
    });
    socket.on('error', (err) => finish({ kind: 'network', error: netError(err) ?? { code: 'TLS', message: truncate(messageOf(err), 200), timedOut: false, retryable: false } }));
    socket.once('close', () => finish({ kind: 'network', error: { code: 'CLOSED', message: 'connection closed before the TLS handshake finished', timedOut: false, retryable: true } }));
  });
}

/** What each chain error means and what fixes it. */
const CHAIN_ERRORS: Record<string, { means: string; fix: string }> = {
  SELF_SIGNED_CERT_IN_CHAIN: { means: 'the chain ends in an untrusted self-signed CA', fix: 'Use a certificate from a public CA, or set `ca` to trust your private CA.' },
  DEPTH_ZERO_SELF_SIGNED_CERT: { means: 'self-signed certificate', fix: 'Use a certificate from a public CA (certbot), or set `ca` to this certificate to trust it.' },
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: { means: 'the issuer is unknown (intermediate missing?)', fix: 'Serve the full chain (certbot: fullchain.pem, not cert.pem).' },
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: { means: 'the issuer is unknown (intermediate missing?)', fix: 'Serve the full chain (certbot: fullchain.pem, not cert.pem).' },
  UNABLE_TO_GET_ISSUER_CERT: { means: 'the issuer is unknown (intermediate missing?)', fix: 'Serve the full chain (certbot: fullchain.pem, not cert.pem).' },
  CERT_HAS_EXPIRED: { means: 'a certificate in the chain has expired', fix: 'Renew the certificate and serve the current chain.' },
  CERT_NOT_YET_VALID: { means: 'not valid yet (clock skew?)', fix: 'Check the server clock and the certificate dates.' },
};

function judge(cfg: TlsCheckConfig, hs: Handshake, now: Date): CheckOutcome {
  const cert = hs.cert;
  if (!cert || !cert.valid_to) return fail('the server presented no certificate', { details: [{ host: cfg.host, port: cfg.port }] });
  const validTo = new Date(cert.valid_to);
  const daysLeft = (validTo.getTime() - now.getTime()) / DAY_MS;
  const days = Math.floor(daysLeft);
  const until = validTo.toISOString().slice(0, 10);
  const identityError = checkServerIdentity(cfg.host, cert);
  const expired = daysLeft <= 0;

  const problems: Array<{ status: CheckStatus; text: string; fix: string }> = [];
  const renew = `Renew the certificate for ${cfg.host} (certbot: \`certbot renew\`, and check certbot.timer or its cron), then reload the web server.`;
  if (expired) problems.push({ status: 'fail', text: `certificate expired ${plural(Math.ceil(-daysLeft), 'day')} ago (${until})`, fix: renew });
  if (!hs.authorized && !(expired && hs.authorizationError === 'CERT_HAS_EXPIRED')) {
    const code = hs.authorizationError ?? 'UNKNOWN';
    const known = CHAIN_ERRORS[code];
    problems.push({ status: 'fail', text: `not trusted: ${known ? `${known.means} (${code})` : code}`, fix: known?.fix ?? 'Check the certificate chain the server sends.' });
  }
  const sans = cert.subjectaltname ? cert.subjectaltname.split(/,\s*/) : [];
  if (identityError) {
    const covered = sans.map((s) => s.replace(/^[^:]+:/, ''));
    const covers = covered.length ? ` (it covers ${covered.slice(0, 3).join(', ')}${covered.length > 3 ? ', …' : ''})` : '';
    problems.push({ status: 'fail', text: `certificate does not cover ${cfg.host}${covers}`, fix: `Reissue the certificate with ${cfg.host} among its names, or point the check at the host it covers.` });
  }
  if (!expired) {
    if (daysLeft < cfg.failDays) problems.push({ status: 'fail', text: `certificate expires in ${plural(days, 'day')} (${until})`, fix: renew });
    else if (daysLeft < cfg.warnDays) problems.push({ status: 'warn', text: `certificate expires in ${plural(days, 'day')} (${until})`, fix: renew });
  }

  const chain: Array<Record<string, unknown>> = [];
  for (let c = cert.issuerCertificate, i = 0; c && c !== cert && i < 5; i++) {
    chain.push({ subject: name(c.subject), validTo: isoDate(c.valid_to) });
    if (c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  const details = [
    {
      host: cfg.host,
      port: cfg.port,
      subject: name(cert.subject),
      issuer: name(cert.issuer),
      validFrom: isoDate(cert.valid_from),
      validTo: validTo.toISOString(),
      daysLeft: days,
      sans,
      authorized: hs.authorized,
      ...(hs.authorizationError ? { authorizationError: hs.authorizationError } : {}),
      hostnameValid: !identityError,
      ...(identityError ? { hostnameError: identityError.message } : {}),
      protocol: hs.protocol,
      fingerprint256: cert.fingerprint256,
      ...(chain.length ? { chain } : {}),
    },
  ];
  const extra = { value: days, unit: 'days', details };

  if (problems.length === 0) return ok(`valid for ${plural(days, 'day')} (until ${until})`, extra);
  // Trust and hostname problems do not hide the expiry date.
  const texts = problems.map((p) => p.text);
  if (!problems.some((p) => p.text.includes('expire'))) texts.push(`expires in ${plural(days, 'day')} (${until})`);
  const status = problems.some((p) => p.status === 'fail') ? fail : warn;
  return status(texts.join('; '), { ...extra, hint: { text: [...new Set(problems.map((p) => p.fix))].join(' ') } });
}

function pemProblem(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) return 'holds no PEM certificate';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `certificate ${i + 1} cannot be read`;
    }
  }
  return undefined;
}

function name(n: PeerCertificate['subject'] | undefined): string | undefined {
  if (!n) return undefined;
  const pick = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  return pick(n.CN) ?? pick(n.O) ?? undefined;
}

function isoDate(s: string | undefined): string | undefined {
  if (!s) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString();
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}
