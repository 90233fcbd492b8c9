import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateDocsCharts } from '../src/chart/docsCharts.js';

const CHARTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'charts');

describe('docs/charts', () => {
  it('holds exactly the diagrams the machine definitions give', async () => {
    const generated = await generateDocsCharts();
    expect(fs.readdirSync(CHARTS).sort(), 'docs/charts/ has other files than the generated ones: run `npm run charts`').toEqual([...generated.keys()].sort());
    for (const [name, text] of generated) {
      const checkedIn = fs.readFileSync(path.join(CHARTS, name), 'utf8');
      expect(checkedIn === text, `docs/charts/${name} is not current: run \`npm run charts\``).toBe(true);
    }
  });
});
