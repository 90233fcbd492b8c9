// Unit `scan-sources` (milestone `inventory`): walks the repo's source folders, and for
// every file records its size, line count and sha256; totals per folder and per
// extension; the largest files. Writes one JSON document.
//
//   node quickstart/scan-sources.mjs --root .. --dirs src,machines,actors,persistence --out out/inventory.json
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { countLines, fail, formatBytes, parseArgs, say, sha256, walk, writeOutput } from './lib.mjs';

const args = parseArgs(['root', 'dirs', 'out']);
const root = path.resolve(args.root);
const dirs = args.dirs.split(',').map((d) => d.trim()).filter(Boolean);
if (dirs.length === 0) fail('--dirs names no folder');

const files = [];
for (const dir of dirs) {
  const full = path.join(root, dir);
  let stat;
  try {
    stat = statSync(full);
  } catch (error) {
    fail(`source folder ${full} cannot be read (${error.code ?? error.message})`);
  }
  if (!stat.isDirectory()) fail(`${full} is not a folder`);
  for (const rel of walk(full, root, () => true)) {
    const data = readFileSync(path.join(root, rel));
    files.push({
      path: rel,
      dir,
      ext: path.extname(rel) || '(none)',
      bytes: data.length,
      lines: countLines(data.toString('utf8')),
      sha256: sha256(data),
    });
  }
}
if (files.length === 0) fail(`no files found under ${dirs.join(', ')} in ${root}`);

const tally = (key) => {
  const out = {};
  for (const f of files) {
    const t = (out[f[key]] ??= { files: 0, lines: 0, bytes: 0 });
    t.files++;
    t.lines += f.lines;
    t.bytes += f.bytes;
  }
  return out;
};
const totals = files.reduce((t, f) => ({ files: t.files + 1, lines: t.lines + f.lines, bytes: t.bytes + f.bytes }), { files: 0, lines: 0, bytes: 0 });
const largest = [...files].sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path)).slice(0, 5).map(({ path: p, bytes, lines }) => ({ path: p, bytes, lines }));

const inventory = {
  generatedAt: new Date().toISOString(),
  root: path.basename(root),
  dirs,
  totals,
  byDir: tally('dir'),
  byExtension: tally('ext'),
  largest,
  files,
};
const written = writeOutput(args.out, JSON.stringify(inventory, null, 2) + '\n');

say(`scanned ${dirs.map((d) => `${d}/`).join(' ')} under ${root}`);
for (const [dir, t] of Object.entries(inventory.byDir)) say(`  ${`${dir}/`.padEnd(13)} ${String(t.files).padStart(3)} files ${String(t.lines).padStart(6)} lines ${formatBytes(t.bytes).padStart(10)}`);
say(`total: ${totals.files} files, ${totals.lines} lines, ${formatBytes(totals.bytes)}; largest: ${largest.slice(0, 3).map((f) => `${f.path} (${f.lines} lines)`).join(', ')}`);
say(`wrote ${args.out} (${formatBytes(written)})`);
