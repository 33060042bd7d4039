import { createSocket, type RemoteInfo } from 'node:dgram';
import type { AddressInfo } from 'node:net';

/**
 * A tiny authoritative DNS server over UDP on 127.0.0.1, enough for the DNS check's tests: it answers
 * A, AAAA, TXT, MX, CNAME and NS questions from a zone, NXDOMAIN for names it does not know, NOERROR
 * with no answers for a known name without that type, SERVFAIL for `servfail` names, and nothing at all
 * for `drop` names (the timeout case). Messages follow RFC 1035 §4 (no compression except the answer's
 * pointer to the question name).
 */
export type Rr =
  | { type: 'A'; address: string }
  | { type: 'AAAA'; address: string }
  | { type: 'TXT'; text: string | string[] }
  | { type: 'MX'; priority: number; exchange: string }
  | { type: 'CNAME' | 'NS'; target: string };

export interface DnsZone {
  records: Record<string, Rr[]>;
  servfail?: string[];
  drop?: string[];
}

export interface TestDnsServer {
  /** "127.0.0.1:PORT", the form the check's `server` takes. */
  server: string;
  /** Questions received so far. */
  readonly queries: number;
  close(): Promise<void>;
}

const TYPES: Record<Rr['type'], number> = { A: 1, NS: 2, CNAME: 5, MX: 15, TXT: 16, AAAA: 28 };
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

const norm = (name: string) => name.toLowerCase().replace(/\.$/, '');

export async function startDnsServer(zone: DnsZone): Promise<TestDnsServer> {
  const socket = createSocket('udp4');
  let queries = 0;
  const records = new Map(Object.entries(zone.records).map(([k, v]) => [norm(k), v]));

  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = parseQuestion(msg);
    if (!q) return;
    queries++;
    const name = norm(q.name);
    if (zone.drop?.map(norm).includes(name)) return;
    let rcode: number = RCODE.NOERROR;
    let answers: Rr[] = [];
    if (zone.servfail?.map(norm).includes(name)) rcode = RCODE.SERVFAIL;
    else if (!records.has(name)) rcode = RCODE.NXDOMAIN;
    else answers = records.get(name)!.filter((r) => TYPES[r.type] === q.type);
    socket.send(encodeResponse(msg, q.end, rcode, answers), from.port, from.address);
  });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const { port } = socket.address() as AddressInfo;
  return {
    server: `127.0.0.1:${port}`,
    get queries() {
      return queries;
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** The first question: its name, type, and where the question section ends. */
function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length) {
    const len = msg[i]!;
    if (len === 0) break;
    if (len > 63) return undefined; // no compression in questions
    labels.push(msg.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return undefined;
  return { name: labels.join('.'), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

function encodeResponse(query: Buffer, questionEnd: number, rcode: number, answers: Rr[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // same id
  const rd = query.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | rcode, 2); // QR, AA, RD as asked, RA, rcode
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts = [header, query.subarray(12, questionEnd)];
  for (const rr of answers) {
    const rdata = encodeRdata(rr);
    const fixed = Buffer.alloc(12);
    fixed.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    fixed.writeUInt16BE(TYPES[rr.type], 2);
    fixed.writeUInt16BE(1, 4); // IN
    fixed.writeUInt32BE(60, 6); // TTL
    fixed.writeUInt16BE(rdata.length, 10);
    parts.push(fixed, rdata);
  }
  return Buffer.concat(parts);
}

function encodeName(name: string): Buffer {
  const labels = norm(name).split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

function encodeRdata(rr: Rr): Buffer {
  switch (rr.type) {
    case 'A':
      return Buffer.from(rr.address.split('.').map(Number));
    case 'AAAA': {
      const [head = '', tail] = rr.address.split('::');
      const h = head ? head.split(':') : [];
      const t = tail ? tail.split(':') : [];
      const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
      const b = Buffer.alloc(16);
      groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
      return b;
    }
    case 'TXT':
      return Buffer.concat((Array.isArray(rr.text) ? rr.text : [rr.text]).map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    case 'MX': {
      const pref = Buffer.alloc(2);
      pref.writeUInt16BE(rr.priority, 0);
      return Buffer.concat([pref, encodeName(rr.exchange)]);
    }
    case 'CNAME':
    case 'NS':
      return encodeName(rr.target);
  }
}
