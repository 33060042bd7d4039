#!/usr/bin/env node
// `npx opsbook …`: runs the CLI compiled to dist/ (bin/build.mjs, run by npm's prepare on install).
// A checkout whose sources changed since is rebuilt first, with esbuild, in a fraction of a second, so
// what runs is always what is in lib/.
import { pathToFileURL } from 'node:url';
import { buildCli, currentCli } from './build.mjs';

const entry = currentCli() ?? (await buildCli());
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
