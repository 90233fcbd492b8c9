import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/tempStore.js';

/**
 * What `npm pack` publishes: what a user needs (the built code with its types, the CLI, the
 * inspector page, the docs) and nothing else, with every entry of the `exports` map resolving
 * with its types (checked by @arethetypeswrong/cli on the packed tarball). Packs with
 * `--ignore-scripts`: the suite runs after `npm run build`, and a rebuild here would rewrite
 * dist/ under the tests that run the CLI from it.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function pack(destination: string): { filename: string; files: string[] } {
  const out = execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', destination], { cwd: ROOT, encoding: 'utf8' });
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  if (info === undefined) throw new Error(`npm pack printed no package: ${out}`);
  return { filename: path.join(destination, info.filename), files: info.files.map((file) => file.path) };
}

describe('the npm package', () => {
  const { dir, cleanup } = tempDir('statecrew-pack-');
  let packed: { filename: string; files: string[] };

  beforeAll(() => {
    packed = pack(dir);
  });

  afterAll(() => cleanup());

  it('holds the built code with declarations, the CLI, the turn shim\'s source and its build, the inspector page and the docs', () => {
    for (const file of [
      'package.json',
      'README.md',
      'bin/statecrew.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/testing/index.js',
      'dist/src/testing/index.d.ts',
      'dist/src/cli/main.js',
      'native/turn-shim.c',
      'native/build.mjs',
      'assets/inspector/index.html',
      'assets/inspector/inspector.js',
      'assets/inspector/inspector.css',
      'docs/api.md',
      'docs/architecture.md',
      'docs/charts/worker.svg',
    ]) {
      expect(packed.files, file).toContain(file);
    }
  });

  it('leaves out sources, tests, benchmarks, scripts, CI files, source maps, local state and the built shim (the install script compiles it)', () => {
    const unwanted = packed.files.filter(
      (file) =>
        file === 'dist/actors/turn-shim' ||
        /^(test|bench|scripts|examples|src|machines|actors|persistence|\.ci|\.statecrew|test-artifacts|node_modules)\//.test(file) ||
        file.endsWith('.map') ||
        file.endsWith('.db') ||
        (file.endsWith('.ts') && !file.endsWith('.d.ts')),
    );
    expect(unwanted).toEqual([]);
  });

  it('resolves every export with its types (arethetypeswrong, ESM resolution)', () => {
    const attw = path.join(ROOT, 'node_modules', '.bin', 'attw');
    // Exits non-zero, printing the problems, when an entry point is missing or mistyped.
    const report = execFileSync(attw, [packed.filename, '--profile', 'esm-only', '--format', 'json'], { encoding: 'utf8' });
    const parsed = JSON.parse(report) as { analysis: { problems: { kind: string; resolutionKind?: string }[]; entrypoints: Record<string, unknown> } };
    expect(Object.keys(parsed.analysis.entrypoints).sort()).toEqual(['.', './package.json', './testing']);
    // The package is ESM only (`type: module`, Node ≥ 20): CommonJS and node10 resolutions are out of scope.
    const esm = parsed.analysis.problems.filter((problem) => problem.resolutionKind === 'node16-esm' || problem.resolutionKind === 'bundler');
    expect(esm).toEqual([]);
  });
});
