// The example project's check (copied into its repository as scripts/check.mjs): every
// JavaScript file under src/ must parse, and docs/usage.md, when present, must have an
// "## Examples" section. Exits 1 naming what is wrong.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const problems = [];
for (const file of fs.existsSync('src') ? fs.readdirSync('src') : []) {
  if (!file.endsWith('.js')) continue;
  try {
    execFileSync(process.execPath, ['--check', path.join('src', file)], { stdio: 'pipe' });
  } catch (error) {
    problems.push(`src/${file} does not parse: ${String(error.stderr).trim().split('\n')[0]}`);
  }
}
if (fs.existsSync('docs/usage.md') && !fs.readFileSync('docs/usage.md', 'utf8').includes('## Examples')) {
  problems.push('docs/usage.md has no "## Examples" section');
}
console.log(`checked ${fs.existsSync('src') ? fs.readdirSync('src').length : 0} source files`);
for (const problem of problems) console.error(`FAIL: ${problem}`);
process.exit(problems.length === 0 ? 0 : 1);
