// Unit `verify-outputs` (milestone `verify`): reads from stdin a list of artifacts and how
// to check each (one per line: `<file> <check>`, `#` starts a comment), checks them all
// against each other, prints a summary table, and exits 1 if any check fails.
//
// Checks: json (parses), markdown (one symbol link per entry of api-index.json),
// html (complete document, one row per inventoried file and per dependency, no external
// assets), targz (gunzips, parses as tar, every member equals the file beside it),
// sha256sums (every listed file has the listed hash).
//
//   node quickstart/verify-outputs.mjs --dir out < list.txt
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fail, formatBytes, parseArgs, readTar, say, sha256 } from './lib.mjs';

const args = parseArgs(['dir']);
const stdin = readFileSync(0, 'utf8');
const wanted = stdin
  .split('\n')
  .map((line) => line.replace(/#.*/, '').trim())
  .filter(Boolean)
  .map((line, i) => {
    const [file, check, ...rest] = line.split(/\s+/);
    if (check === undefined || rest.length > 0) fail(`stdin line ${i + 1}: expected "<file> <check>", got ${JSON.stringify(line)}`, 2);
    return { file, check };
  });
if (wanted.length === 0) fail('stdin lists no artifacts to verify (the plan gives the list as the unit\'s input:)', 2);

const at = (name) => path.join(args.dir, name);
const json = (name) => JSON.parse(readFileSync(at(name), 'utf8'));

const CHECKS = {
  json(file) {
    const value = json(file);
    const keys = Object.keys(value);
    return `valid JSON, ${keys.length} top-level keys (${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''})`;
  },
  markdown(file) {
    const text = readFileSync(at(file), 'utf8');
    const links = [...text.matchAll(/\[`[^`]+`\]\([^)]+#L\d+\)/g)].length;
    const expected = json('api-index.json').symbols.length;
    if (links !== expected) throw new Error(`${links} symbol links, but api-index.json lists ${expected} symbols`);
    return `${links} symbol links = ${expected} symbols in api-index.json, ${[...text.matchAll(/^## /gm)].length} file sections`;
  },
  html(file) {
    const html = readFileSync(at(file), 'utf8');
    if (!/^<!doctype html>/i.test(html) || !html.trimEnd().endsWith('</html>')) throw new Error('not a complete HTML document');
    const fileRows = [...html.matchAll(/<tr data-file="([^"]+)"/g)].map((m) => m[1]);
    const inventory = json('inventory.json');
    if (fileRows.length !== inventory.files.length) throw new Error(`${fileRows.length} file rows, but inventory.json lists ${inventory.files.length} files`);
    const missing = inventory.files.filter((f) => !fileRows.includes(f.path.replace(/&/g, '&amp;')));
    if (missing.length > 0) throw new Error(`no row for ${missing.map((f) => f.path).join(', ')}`);
    const depRows = [...html.matchAll(/<tr data-dep="/g)].length;
    const deps = json('dependencies.json').direct.length;
    if (depRows !== deps) throw new Error(`${depRows} dependency rows, but dependencies.json lists ${deps}`);
    const external = html.match(/<(?:link|script|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?\/\//i);
    if (external) throw new Error(`loads an external asset: ${external[0]}`);
    return `complete document, ${fileRows.length} file rows = inventory, ${depRows} dependency rows, no external assets`;
  },
  targz(file) {
    const entries = readTar(gunzipSync(readFileSync(at(file))));
    for (const entry of entries) {
      const beside = readFileSync(at(entry.name));
      if (sha256(beside) !== sha256(entry.data)) throw new Error(`member ${entry.name} differs from ${at(entry.name)}`);
    }
    return `${entries.length} members (${entries.map((e) => e.name).join(', ')}), each identical to the file beside it`;
  },
  sha256sums(file) {
    const dir = path.dirname(at(file));
    const lines = readFileSync(at(file), 'utf8').trim().split('\n');
    for (const line of lines) {
      const [, hash, name] = /^([0-9a-f]{64}) {2}(.+)$/.exec(line) ?? [];
      if (hash === undefined) throw new Error(`malformed line ${JSON.stringify(line)}`);
      if (sha256(readFileSync(path.join(dir, name))) !== hash) throw new Error(`${name}: sha256 differs from the listed one`);
    }
    return `${lines.length} listed hashes match`;
  },
};

const results = wanted.map(({ file, check }) => {
  if (!existsSync(at(file))) return { file, check, ok: false, size: '', detail: `missing: ${at(file)}` };
  const size = formatBytes(statSync(at(file)).size);
  const run = CHECKS[check];
  if (run === undefined) return { file, check, ok: false, size, detail: `unknown check "${check}" (known: ${Object.keys(CHECKS).join(', ')})` };
  try {
    return { file, check, ok: true, size, detail: run(file) };
  } catch (error) {
    return { file, check, ok: false, size, detail: error.code === 'ENOENT' ? `needs ${error.path}, which is missing` : error.message };
  }
});

const width = Math.max(...results.map((r) => r.file.length));
for (const r of results) say(`${r.ok ? 'ok  ' : 'FAIL'} ${r.file.padEnd(width)} ${r.size.padStart(9)}  ${r.check.padEnd(10)} ${r.detail}`);
const failed = results.filter((r) => !r.ok);
if (failed.length > 0) fail(`${failed.length} of ${results.length} artifacts failed verification: ${failed.map((r) => `${r.file} (${r.detail})`).join('; ')}`);
const inventory = json('inventory.json');
const api = json('api-index.json');
say(`all ${results.length} artifacts verified in ${path.resolve(args.dir)}`);
say(`summary: ${inventory.totals.files} source files, ${inventory.totals.lines} lines, ${api.symbols.length} exported symbols (${api.symbols.filter((s) => s.summary).length} documented); open ${path.resolve(args.dir, 'report.html')}`);
