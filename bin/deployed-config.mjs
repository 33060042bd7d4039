#!/usr/bin/env node
// The build step (vercel.json "buildCommand"; Vercel runs it before it bundles the functions, with the
// project's environment variables): make lib/config/deployed.ts serve the config OPSBOOK_CONFIG names,
// or opsbook.config.ts, and refuse the deploy (exit 1, one message) when that config cannot be served.
//
//   node bin/deployed-config.mjs                                      # from the project root
//   OPSBOOK_CONFIG=examples/vivim.config.ts node bin/deployed-config.mjs
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { chooseDeployedConfig, DEPLOYED_MODULE } = await tsImport('../lib/config/deployed-build.ts', import.meta.url);
const choice = await chooseDeployedConfig({ root: ROOT });
if (!choice.ok) {
  console.error(choice.message);
  process.exit(1);
}
const lists = choice.config.checklists.map((c) => c.id).join(', ') || 'none';
console.log(`opsbook: the functions serve ${choice.file}${choice.fromEnv ? ' (OPSBOOK_CONFIG)' : ' (OPSBOOK_CONFIG is unset)'}: ${choice.config.service}, checklists ${lists}`);
if (choice.changed) {
  // On Vercel the checkout is the build's own; on a developer's machine the change shows in git status.
  console.log(`opsbook: wrote ${DEPLOYED_MODULE} to re-export it (in a checkout of your own, run this again without OPSBOOK_CONFIG, or \`git restore ${DEPLOYED_MODULE}\`, to go back).`);
}
