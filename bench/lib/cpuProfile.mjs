// Reads V8 `.cpuprofile` files written by `node --cpu-prof` and ranks functions by self time.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const META = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** A short location for a call frame: `dist/src/actorHost.js:212`, `xstate/…/raise-….esm.js`, `node:fs`. */
function where(callFrame) {
  const { url, lineNumber } = callFrame;
  if (url === '') return '';
  let file = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (file.startsWith(repoRoot)) file = path.relative(repoRoot, file);
  // The runtime is loaded from a copy of dist/ (lib/distSnapshot.mjs): name it dist/ too.
  file = file.replace(/^.*\/statecrew-bench-dist-[^/]+\//, '');
  const modules = file.lastIndexOf('node_modules/');
  if (modules >= 0) file = file.slice(modules + 'node_modules/'.length);
  return `${file}:${lineNumber + 1}`;
}

/** Which package or layer a frame belongs to, for the by-module breakdown. */
function moduleOf(callFrame) {
  const name = callFrame.functionName;
  if (META.has(name)) return name;
  const location = where(callFrame);
  if (location === '') return '(native / V8 builtins)';
  if (location.startsWith('node:')) return 'node: core modules';
  const match = location.match(/^(@[^/]+\/[^/]+|[^/]+)\//);
  if (location.startsWith('dist/')) return `statecrew ${location.split('/').slice(0, 2).join('/')}`;
  if (location.startsWith('bench/')) return 'bench harness';
  return match?.[1] ?? location;
}

/**
 * Self time per function, summed over every profile in `files`.
 * @returns {{ files: number, totalMs: number, busyMs: number, idleMs: number,
 *   functions: { name: string, where: string, selfMs: number, pct: number }[],
 *   statecrewInclusive: { name: string, where: string, totalMs: number, pct: number }[],
 *   modules: { module: string, selfMs: number, pct: number }[] }}
 *   `statecrewInclusive`: statecrew's own functions (dist/) by inclusive (total) time.
 *   `pct` is a share of busy time (all samples but `(idle)`).
 */
export function summarizeProfiles(files) {
  const byFunction = new Map();
  const byModule = new Map();
  const inclusive = new Map();
  let totalMs = 0;
  let idleMs = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8'));
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    profile.samples.forEach((id, i) => {
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      const node = nodes.get(id);
      if (node === undefined || ms <= 0) return;
      totalMs += ms;
      const frame = node.callFrame;
      if (frame.functionName === '(idle)') {
        idleMs += ms;
        return;
      }
      const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
      const key = `${name}\u0000${where(frame)}`;
      const entry = byFunction.get(key) ?? { name, where: where(frame), selfMs: 0 };
      entry.selfMs += ms;
      byFunction.set(key, entry);
      const module = moduleOf(frame);
      byModule.set(module, (byModule.get(module) ?? 0) + ms);
      // Inclusive time of statecrew's own functions: every distinct one on the sample's stack.
      const onStack = new Set();
      for (let id = node.id; id !== undefined; id = parents.get(id)) {
        const caller = nodes.get(id).callFrame;
        const location = where(caller);
        if (!location.startsWith('dist/')) continue;
        const callerKey = `${caller.functionName === '' ? '(anonymous)' : caller.functionName}\u0000${location}`;
        if (onStack.has(callerKey)) continue;
        onStack.add(callerKey);
        const entry = inclusive.get(callerKey) ?? { name: caller.functionName === '' ? '(anonymous)' : caller.functionName, where: location, totalMs: 0 };
        entry.totalMs += ms;
        inclusive.set(callerKey, entry);
      }
    });
  }
  const busyMs = totalMs - idleMs;
  const share = (ms) => (busyMs > 0 ? (100 * ms) / busyMs : 0);
  return {
    files: files.length,
    totalMs,
    busyMs,
    idleMs,
    functions: [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs).map((f) => ({ ...f, pct: share(f.selfMs) })),
    statecrewInclusive: [...inclusive.values()].sort((a, b) => b.totalMs - a.totalMs).map((f) => ({ ...f, pct: share(f.totalMs) })),
    modules: [...byModule.entries()].map(([module, selfMs]) => ({ module, selfMs, pct: share(selfMs) })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

/** Every `.cpuprofile` in `dir`. */
export function profilesIn(dir) {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(dir, name));
}
