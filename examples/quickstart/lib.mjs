// Helpers shared by the quickstart scripts: argument parsing, hashing, a recursive file
// walk, a minimal ustar (tar) writer/reader, and a fail() that explains errors on stderr.
// Node 20 standard library only.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The script's name, for messages: `scan-sources`. */
export const SCRIPT = path.basename(process.argv[1] ?? 'script', '.mjs');

/** Prints `<script>: error: <message>` on stderr and exits with `code` (default 1). */
export function fail(message, code = 1) {
  process.stderr.write(`${SCRIPT}: error: ${message}\n`);
  process.exit(code);
}

/** One informative line on stdout (it lands in the unit's per-turn log file). */
export function say(message) {
  process.stdout.write(`${SCRIPT}: ${message}\n`);
}

/**
 * Parses `--name value` pairs. Every name in `required` must be present; unknown names are
 * an error, so a typo in the plan is reported instead of silently ignored.
 */
export function parseArgs(required, optional = {}) {
  const args = { ...optional };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) fail(`expected --name value pairs, got ${JSON.stringify(argv.slice(i).join(' '))}`, 2);
    const name = flag.slice(2);
    if (!required.includes(name) && !(name in optional)) fail(`unknown option --${name} (known: ${[...required, ...Object.keys(optional)].map((n) => `--${n}`).join(', ')})`, 2);
    args[name] = value;
  }
  for (const name of required) if (args[name] === undefined) fail(`missing option --${name}`, 2);
  return args;
}

export const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** Reads a file, turning ENOENT and friends into a one-line error that names what produced it. */
export function readOrFail(file, producedBy) {
  try {
    return readFileSync(file);
  } catch (error) {
    fail(`cannot read ${file} (${error.code ?? error.message})${producedBy ? `; it is written by ${producedBy}, which must run first` : ''}`);
  }
}

export function readJsonOrFail(file, producedBy) {
  const text = readOrFail(file, producedBy).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    fail(`${file} is not valid JSON: ${error.message}`);
  }
}

/** Writes `data`, creating the parent folder; returns the byte count. */
export function writeOutput(file, data) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  return Buffer.byteLength(data);
}

/** Every file under `dir` (recursively) whose name matches `accept`, sorted, as paths relative to `base`. */
export function walk(dir, base, accept) {
  const found = [];
  const visit = (current) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) visit(full);
      } else if (entry.isFile() && accept(entry.name)) {
        found.push(path.relative(base, full).split(path.sep).join('/'));
      }
    }
  };
  visit(dir);
  return found.sort();
}

/** Counts lines the way `wc -l` does, plus a final line without a newline. */
export function countLines(text) {
  if (text.length === 0) return 0;
  const newlines = text.split('\n').length - 1;
  return text.endsWith('\n') ? newlines : newlines + 1;
}

export const formatBytes = (n) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`);

// --- ustar ----------------------------------------------------------------------------
// Enough of POSIX ustar for regular files with short names: readable by `tar tzvf`.

const BLOCK = 512;

function octal(value, width) {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** A tar archive (Buffer) of `entries`: [{ name, data: Buffer, mtime: seconds, mode }]. */
export function createTar(entries) {
  const blocks = [];
  for (const { name, data, mtime, mode = 0o644 } of entries) {
    if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name longer than 100 bytes: ${name}`);
    const header = Buffer.alloc(BLOCK, 0);
    header.write(name, 0, 100, 'utf8');
    header.write(octal(mode, 8), 100, 8, 'ascii');
    header.write(octal(0, 8), 108, 8, 'ascii'); // uid
    header.write(octal(0, 8), 116, 8, 'ascii'); // gid
    header.write(octal(data.length, 12), 124, 12, 'ascii');
    header.write(octal(Math.floor(mtime), 12), 136, 12, 'ascii');
    header.fill(' ', 148, 156); // checksum field counts as spaces while summing
    header.write('0', 156, 1, 'ascii'); // regular file
    header.write('ustar\0', 257, 6, 'ascii');
    header.write('00', 263, 2, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    blocks.push(header, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK, 0));
  }
  blocks.push(Buffer.alloc(BLOCK * 2, 0)); // end-of-archive marker
  return Buffer.concat(blocks);
}

/** Parses a tar made by {@link createTar}; verifies each header checksum. */
export function readTar(tar) {
  const entries = [];
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const field = (start, length) => header.toString('ascii', start, start + length).replace(/\0.*$/s, '').trim();
    const stored = parseInt(field(148, 8), 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    if (stored !== sum) throw new Error(`bad tar header checksum at offset ${offset}: stored ${stored}, computed ${sum}`);
    const name = header.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12), 8);
    const start = offset + BLOCK;
    if (start + size > tar.length) throw new Error(`tar entry ${name} is truncated`);
    entries.push({ name, size, mtime: parseInt(field(136, 12), 8), data: tar.subarray(start, start + size) });
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}
