/**
 * Renders a realistic sample report for people to look at:
 *   npx tsx test/report/render-sample.ts          → .opsbook/sample-report.html (+ .txt)
 *   npx tsx test/report/render-sample.ts --big    → the 2,000-item model instead
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReport } from '../../lib/report/index.js';
import { bigModel, sampleModel } from './fixtures.js';

const big = process.argv.includes('--big');
const report = renderReport(big ? bigModel() : sampleModel());
const dir = join(process.cwd(), '.opsbook');
mkdirSync(dir, { recursive: true });
const name = big ? 'sample-report-big' : 'sample-report';
writeFileSync(join(dir, `${name}.html`), report.html);
writeFileSync(join(dir, `${name}.txt`), report.text);
console.log(`${report.subject}\n${join(dir, `${name}.html`)}: ${Buffer.byteLength(report.html, 'utf8')} bytes; text ${Buffer.byteLength(report.text, 'utf8')} bytes`);
