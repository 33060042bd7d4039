#!/usr/bin/env node
// `npm start`: the local runner, compiled to dist/ with the routes it serves (bin/build.mjs), rebuilt
// first when a source under lib/, cron/ or api/ is newer. `npm start -- --config <path>` as before.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildCli, currentCli } from './build.mjs';

const entry = currentCli('runner') ?? join((await buildCli()).replace(/main\.mjs$/, ''), 'runner.mjs');
await import(pathToFileURL(entry).href);
