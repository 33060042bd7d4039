// Chromium for the report screenshot test, obtained by the suite itself: Debian's package when it is
// missing (playwright-core never downloads a browser, and this machine's network allows only the npm
// registry and Debian's mirrors). A machine where the suite cannot install it gets the exact command.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where Debian installs it. CHROMIUM_PATH overrides (another distribution, a local build). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function apt(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 15 * 60_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-1500) };
}

/**
 * The path of a runnable Chromium, installing Debian's package first when it is missing and the suite
 * runs as root. Throws with the command to run otherwise.
 * @example const path = ensureChromium(); await chromium.launch({ executablePath: path })
 */
export function ensureChromium(log: (line: string) => void = (line) => console.log(line)): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const canInstall = process.env.CHROMIUM_PATH === undefined && process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0;
  if (!canInstall) {
    throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (sudo apt-get install -y chromium) or set CHROMIUM_PATH.`);
  }
  log("[test] Chromium is missing: installing Debian's chromium package for the screenshot test (once per machine)…");
  let r = apt(['install', '-y', '-qq', 'chromium']);
  if (!r.ok) {
    log('[test] apt-get install failed; updating the package lists and trying again…');
    apt(['update', '-qq']);
    r = apt(['install', '-y', '-qq', 'chromium']);
  }
  if (!r.ok || !existsSync(CHROMIUM)) throw new Error(`Installing chromium failed:\n${r.out}`);
  log(`[test] Chromium installed at ${CHROMIUM}.`);
  return CHROMIUM;
}
