// The benchmarks measure the runtime in dist/, which other people working in the same
// checkout may rebuild at any moment. bench/index.mjs therefore copies dist/ once, right
// after the build, and every benchmark process loads the runtime from that copy:
// `node --import bench/lib/distSnapshot.mjs` registers a resolve hook that redirects
// imports of <repo>/dist/… to the copy named by STATECREW_BENCH_DIST.
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENV = 'STATECREW_BENCH_DIST';

/**
 * Copies <repo>/dist into a temporary folder that resolves packages from the repository's
 * node_modules (a symlink) and treats .js as ESM (a package.json), and returns the options
 * child processes need to load the runtime from it.
 */
export function snapshotDist() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'statecrew-bench-dist-'));
  cpSync(path.join(repoRoot, 'dist'), path.join(root, 'dist'), { recursive: true });
  writeFileSync(path.join(root, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  // The inspector finds its page in assets/ above its module (src/inspector/assets.ts).
  symlinkSync(path.join(repoRoot, 'assets'), path.join(root, 'assets'), 'dir');
  return {
    dir: path.join(root, 'dist'),
    execArgv: ['--import', pathToFileURL(fileURLToPath(import.meta.url)).href],
    env: { [ENV]: path.join(root, 'dist') },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** The `--import` arguments of this process that load the snapshot (for processes it spawns itself). */
export function snapshotExecArgv() {
  const args = process.execArgv;
  const at = args.findIndex((arg, i) => arg === '--import' && args[i + 1]?.endsWith('/distSnapshot.mjs'));
  return at < 0 ? [] : args.slice(at, at + 2);
}

const target = process.env[ENV];
if (target !== undefined) {
  register('./distRedirect.mjs', import.meta.url, {
    data: { from: pathToFileURL(path.join(repoRoot, 'dist')).href + '/', to: pathToFileURL(target).href + '/' },
  });
}
