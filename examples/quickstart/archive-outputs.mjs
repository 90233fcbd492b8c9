// Unit `archive-outputs` (milestone `report`): packs the generated files into a gzipped
// tar (ustar, readable by `tar tzvf`), writes a `sha256sum -c`-compatible checksum file
// for the archive and every member, then re-reads the archive from disk, gunzips it,
// parses it and checks that every member is byte-identical (same sha256) to its source.
//
//   node quickstart/archive-outputs.mjs --dir out --files a.json,b.md --out out/artifacts.tar.gz --sums out/artifacts.sha256
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createTar, fail, formatBytes, parseArgs, readOrFail, readTar, say, sha256, writeOutput } from './lib.mjs';

const args = parseArgs(['dir', 'files', 'out', 'sums']);
const names = args.files.split(',').map((n) => n.trim()).filter(Boolean);

const members = names.map((name) => {
  const file = path.join(args.dir, name);
  const data = readOrFail(file, 'an earlier milestone');
  return { name, data, mtime: statSync(file).mtimeMs / 1000, sha256: sha256(data) };
});
const tar = createTar(members);
const gz = gzipSync(tar, { level: 9 });
writeOutput(args.out, gz);

// Verify from what is on disk, not from memory.
const onDisk = readFileSync(args.out);
let unpacked;
try {
  unpacked = gunzipSync(onDisk);
} catch (error) {
  fail(`${args.out} does not decompress: ${error.message}`);
}
if (sha256(unpacked) !== sha256(tar)) fail(`${args.out} decompresses to a tar whose sha256 differs from the one written`);
const entries = readTar(unpacked);
if (entries.length !== members.length) fail(`${args.out} holds ${entries.length} members, expected ${members.length}`);
for (const [i, entry] of entries.entries()) {
  const member = members[i];
  if (entry.name !== member.name) fail(`member ${i + 1} of ${args.out} is ${entry.name}, expected ${member.name}`);
  const actual = sha256(entry.data);
  if (actual !== member.sha256) fail(`member ${entry.name}: sha256 ${actual.slice(0, 12)}… differs from the source file's ${member.sha256.slice(0, 12)}…`);
}

// Paths in the sums file are relative to its own folder, so `cd out && sha256sum -c artifacts.sha256` works.
const sumsDir = path.dirname(path.resolve(args.sums));
const rel = (file) => path.relative(sumsDir, path.resolve(file)).split(path.sep).join('/');
const sums = [...members.map((m) => `${m.sha256}  ${rel(path.join(args.dir, m.name))}`), `${sha256(onDisk)}  ${rel(args.out)}`];
writeOutput(args.sums, sums.join('\n') + '\n');

const raw = members.reduce((n, m) => n + m.data.length, 0);
for (const m of members) say(`  ${m.name.padEnd(18)} ${formatBytes(m.data.length).padStart(10)}  sha256 ${m.sha256.slice(0, 16)}…`);
say(`packed ${members.length} files (${formatBytes(raw)}) into ${args.out}: tar ${formatBytes(tar.length)} → gzip ${formatBytes(gz.length)} (${((100 * gz.length) / raw).toFixed(1)}% of the input)`);
say(`verified: gunzip + tar parse of ${args.out} gives ${entries.length} members, each with the sha256 of its source; archive sha256 ${sha256(onDisk).slice(0, 16)}…`);
say(`wrote ${args.sums} (${sums.length} lines; check with: cd ${sumsDir} && sha256sum -c ${path.basename(args.sums)})`);
