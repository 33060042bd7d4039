#!/usr/bin/env node
// Adds the lockfile entries `npm install` leaves out when the registry this workplace reaches does not
// serve some platform-specific optional packages (seen: @vercel/vc-native-{darwin,win32,linux-arm64}
// and @msgpackr-extract/msgpackr-extract-{darwin,win32,linux-arm}). npm install then writes a lock whose
// optionalDependencies point at packages it does not list, and `npm ci` refuses it ("Missing: ... from
// lock file"). The entries added here carry version, os and cpu (inferred from the package name), so
// npm ci skips them on this platform exactly as it skips the other platforms' packages; where the
// platform matches (a developer's Mac, say), npm fetches them from the registry as usual.
//
//   node .ci/lockfile-stubs.mjs           # fix package-lock.json in place, print what was added
//   node .ci/lockfile-stubs.mjs --check   # exit 1 if entries are missing, change nothing
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const LOCK = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'package-lock.json');
const check = process.argv.includes('--check');
const lock = JSON.parse(readFileSync(LOCK, 'utf8'));
const pk = lock.packages ?? {};

const OS = { darwin: 'darwin', macos: 'darwin', linux: 'linux', win32: 'win32', windows: 'win32', freebsd: 'freebsd', openbsd: 'openbsd', netbsd: 'netbsd', sunos: 'sunos', aix: 'aix', android: 'android', openharmony: 'openharmony' };
const CPU = { x64: 'x64', amd64: 'x64', x86_64: 'x64', arm64: 'arm64', aarch64: 'arm64', arm: 'arm', armv7: 'arm', ia32: 'ia32', x86: 'ia32', ppc64: 'ppc64', ppc64le: 'ppc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64el' };

function platformOf(name) {
  const tokens = name.split('/').pop().toLowerCase().split('-');
  const os = tokens.map((t) => OS[t]).find(Boolean);
  const cpu = tokens.map((t) => CPU[t] ?? (/^arm.*eabi/.test(t) ? 'arm' : undefined)).find(Boolean);
  const libc = os !== 'linux' ? undefined : tokens.some((t) => t.startsWith('musl')) ? 'musl' : tokens.some((t) => t.startsWith('gnu')) ? 'glibc' : undefined;
  return { os, cpu, libc };
}

/** Node's lookup: the dependency as `from` would find it, walking up its node_modules folders. */
function located(from, name) {
  let base = from;
  for (;;) {
    const key = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (pk[key]) return key;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i === -1 ? '' : base.slice(0, i);
  }
}

const added = [];
const unfixable = [];
for (const [from, entry] of Object.entries(pk)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    if (located(from, name)) continue;
    const { os, cpu, libc } = platformOf(name);
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec) || !os || !cpu) {
      unfixable.push(`${name}@${spec} (optional dependency of ${from || 'the root'})`);
      continue;
    }
    const key = pk[`node_modules/${name}`] ? `${from}/node_modules/${name}` : `node_modules/${name}`;
    pk[key] = {
      version: spec,
      cpu: [cpu],
      ...(entry.dev ? { dev: true } : {}),
      ...(libc ? { libc: [libc] } : {}),
      optional: true,
      os: [os],
    };
    added.push(`${key}@${spec} (${os}/${cpu}${libc ? `/${libc}` : ''})`);
  }
}

if (unfixable.length) {
  console.error(`package-lock.json lists optional dependencies it has no entry for, and no platform can be inferred:\n  ${unfixable.join('\n  ')}`);
}
if (added.length === 0) {
  if (unfixable.length) process.exit(1);
  console.log('package-lock.json: every optional platform package has an entry');
  process.exit(0);
}
if (check) {
  console.error(`package-lock.json lacks ${added.length} optional platform package entr${added.length === 1 ? 'y' : 'ies'} (npm ci would refuse it):\n  ${added.join('\n  ')}\nFix: node .ci/lockfile-stubs.mjs && commit package-lock.json`);
  process.exit(1);
}
lock.packages = Object.fromEntries(Object.entries(pk).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))));
writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: added ${added.length} optional platform package entr${added.length === 1 ? 'y' : 'ies'}:\n  ${added.join('\n  ')}`);
process.exit(unfixable.length ? 1 : 0);
