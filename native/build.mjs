// Compiles the turn shim (native/turn-shim.c) and the turn spawner (native/turn-spawner.c) into
// dist/actors/turn-shim and dist/actors/turn-spawner, where the turn runner looks for them
// (actors/turnRunner.ts, actors/turnSpawner.ts). Run by `npm run build` and by the package's
// install script, so that the binaries are built for the machine they run on.
//
//   node native/build.mjs        (the compiler: $CC, else cc)
//
// Exit code 1, with the compiler's own output, when the compiler is missing or the build fails:
// statecrew cannot run a turn without its shim.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiler = process.env.CC || 'cc';

for (const name of ['turn-shim', 'turn-spawner']) {
  const source = path.join(root, 'native', `${name}.c`);
  const target = path.join(root, 'dist', 'actors', name);
  mkdirSync(path.dirname(target), { recursive: true });
  const args = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', target, source];
  const built = spawnSync(compiler, args, { stdio: 'inherit' });
  if (built.error !== undefined) {
    console.error(`statecrew: cannot build ${name}: ${compiler} could not be started (${built.error.message}).`);
    console.error('Install a C compiler (Debian: apt-get install gcc; macOS: xcode-select --install) or set CC, then run `node native/build.mjs`.');
    process.exit(1);
  }
  if (built.status !== 0) {
    console.error(`statecrew: building ${name} failed: ${compiler} ${args.join(' ')} exited with ${built.status ?? built.signal}.`);
    process.exit(1);
  }
}
