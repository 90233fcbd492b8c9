#!/usr/bin/env node
// Regenerates docs/charts/: an SVG (<name>.svg) and a Mermaid (<name>.mmd) diagram of each
// built-in statechart (worker, lease, dispatch, supervisor), drawn from the machine definitions.
//
//   npm run charts              build, then write the files that changed
//   npm run charts -- --check   build, then exit 1 listing every file that is not current
//
// It draws from dist/ (`npm run charts` builds first) with the same code as
// test/chartsCurrent.test.ts, which fails when a checked-in file is not current.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateDocsCharts } from '../dist/src/chart/docsCharts.js';

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
const folder = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'charts');
const files = await generateDocsCharts();

const stale = [];
for (const [name, text] of files) {
  const file = path.join(folder, name);
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  if (current !== text) stale.push(file);
}

if (values.check) {
  for (const file of stale) console.error(`not current: ${path.relative(process.cwd(), file)}`);
  if (stale.length > 0) console.error('run `npm run charts` to regenerate docs/charts/');
  process.exitCode = stale.length > 0 ? 1 : 0;
} else {
  fs.mkdirSync(folder, { recursive: true });
  for (const file of stale) {
    fs.writeFileSync(file, files.get(path.basename(file)));
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
  if (stale.length === 0) console.log('docs/charts/ is current');
}
