// Describes the machine a benchmark ran on: CPU, cores, Node, SQLite, file system, load.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';

const require = createRequire(import.meta.url);

function packageVersion(name) {
  try {
    return require(`${name}/package.json`).version;
  } catch (error) {
    return `unknown (${error.code ?? error.message})`;
  }
}

/** The CPU model from /proc/cpuinfo (Linux), else what `os.cpus()` reports. */
function cpuModel() {
  const fromOs = os.cpus()[0]?.model ?? 'unknown';
  let cpuinfo;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch (error) {
    return `${fromOs} (/proc/cpuinfo unreadable: ${error.code})`;
  }
  const field = (name) => cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm'))?.[1]?.trim();
  const mhz = field('cpu MHz');
  const family = field('cpu family');
  const model = field('model');
  const details = [family && `family ${family}`, model && `model ${model}`, mhz && `${Math.round(Number(mhz))} MHz`].filter(Boolean);
  return `${field('model name') ?? fromOs}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

/** File system type of `dir` (`df -T`), for the fsync cost of `durability: 'full'`. */
function fileSystemOf(dir) {
  try {
    const out = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).trim().split('\n').at(-1) ?? '';
    const [device, type] = out.split(/\s+/);
    return `${type} on ${device}`;
  } catch (error) {
    return `unknown (${error.message})`;
  }
}

/** Everything the report says about the machine. */
export function describeMachine() {
  const db = new Database(':memory:');
  const sqlite = db.prepare('SELECT sqlite_version() AS v').get().v;
  db.close();
  return {
    cpuModel: cpuModel(),
    logicalCores: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    sqlite,
    betterSqlite3: packageVersion('better-sqlite3'),
    xstate: packageVersion('xstate'),
    langgraphCheckpointSqlite: packageVersion('@langchain/langgraph-checkpoint-sqlite'),
    tmpDir: os.tmpdir(),
    tmpFileSystem: fileSystemOf(os.tmpdir()),
  };
}

/**
 * The commit the runtime was built from, and the files outside bench/ and docs/ that differ
 * from it (the runtime measured is dist/, built from the working tree).
 */
export function describeSource() {
  const git = (...args) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    // Porcelain lines are `XY path`: keep the leading status columns (no trim before slicing).
    const changed = git('status', '--porcelain')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.slice(3))
      .filter((file) => !file.startsWith('bench/') && !file.startsWith('docs/benchmarks.md'));
    return { commit: git('rev-parse', '--short', 'HEAD').trim(), subject: git('log', '-1', '--format=%s').trim(), changed };
  } catch (error) {
    return { commit: 'unknown', subject: `git failed: ${error.message}`, changed: [] };
  }
}

/** The 1, 5 and 15 minute load averages, rounded. */
export function loadAverage() {
  return os.loadavg().map((value) => Number(value.toFixed(2)));
}
