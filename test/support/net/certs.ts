import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates with chosen dates, made by the `openssl` CLI (OpenSSL 3): a private CA, and leaves it
 * signs with `openssl ca -startdate/-enddate`, which accepts any dates, past ones included. EC P-256
 * keys keep it fast (a few ms per certificate). No network, no npm dependency.
 */
export interface Pem {
  key: string;
  cert: string;
}

export interface CertFactory {
  ca: Pem;
  /** A leaf signed by the CA, valid from `notBefore` to `notAfter`, for the given DNS names / IPs. */
  leaf(opts: { cn: string; names: string[]; notBefore: Date; notAfter: Date }): Pem;
  /** A self-signed leaf (no CA), valid for `days` from now. */
  selfSigned(opts: { cn: string; names: string[]; days: number }): Pem;
  cleanup(): void;
}

const DAY = 86_400_000;
export const daysFromNow = (d: number, now = Date.now()) => new Date(now + d * DAY);

/** 20260101000000Z, the date form `openssl ca` takes. */
function asn1Time(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function san(names: string[]): string {
  return names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

export function createCertFactory(): CertFactory {
  const dir = mkdtempSync(join(tmpdir(), 'opsbook-certs-'));
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=Opsbook Test CA']);
  writeFileSync(join(dir, 'index.txt'), '');
  let n = 0;

  return {
    ca: { key: readFileSync(join(dir, 'ca.key'), 'utf8'), cert: readFileSync(join(dir, 'ca.pem'), 'utf8') },
    leaf({ cn, names, notBefore, notAfter }) {
      const id = `leaf${++n}`;
      writeFileSync(
        join(dir, `${id}.cnf`),
        [
          '[ca]',
          'default_ca = test',
          '[test]',
          'database = index.txt',
          'new_certs_dir = .',
          'rand_serial = yes',
          'default_md = sha256',
          'policy = any',
          'unique_subject = no',
          '[any]',
          'commonName = supplied',
          '[leaf]',
          'basicConstraints = CA:FALSE',
          'keyUsage = digitalSignature',
          'extendedKeyUsage = serverAuth',
          `subjectAltName = ${san(names)}`,
          '',
        ].join('\n'),
      );
      openssl(['req', '-new', ...ec, '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${cn}`]);
      openssl([
        'ca', '-batch', '-notext', '-config', `${id}.cnf`, '-extensions', 'leaf', '-cert', 'ca.pem', '-keyfile', 'ca.key',
        '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter), '-in', `${id}.csr`, '-out', `${id}.pem`,
      ]);
      return { key: readFileSync(join(dir, `${id}.key`), 'utf8'), cert: readFileSync(join(dir, `${id}.pem`), 'utf8') };
    },
    selfSigned({ cn, names, days }) {
      const id = `self${++n}`;
      openssl(['req', '-x509', ...ec, '-keyout', `${id}.key`, '-out', `${id}.pem`, '-days', String(days), '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san(names)}`]);
      return { key: readFileSync(join(dir, `${id}.key`), 'utf8'), cert: readFileSync(join(dir, `${id}.pem`), 'utf8') };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
