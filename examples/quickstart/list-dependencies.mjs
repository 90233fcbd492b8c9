// Unit `list-dependencies` (milestone `inventory`): reads package.json and
// package-lock.json, resolves every direct dependency to its locked version, license and
// integrity hash, checks that node_modules holds exactly the locked version, and tallies
// the licenses of the whole installed tree. Writes one JSON document.
//
//   node quickstart/list-dependencies.mjs --root .. --out out/dependencies.json
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fail, formatBytes, parseArgs, readJsonOrFail, say, writeOutput } from './lib.mjs';

const args = parseArgs(['root', 'out']);
const root = path.resolve(args.root);
const manifest = readJsonOrFail(path.join(root, 'package.json'));
const lock = readJsonOrFail(path.join(root, 'package-lock.json'));
if (lock.lockfileVersion < 2 || typeof lock.packages !== 'object') {
  fail(`package-lock.json has lockfileVersion ${lock.lockfileVersion}; expected 2 or 3 (npm 7+), which lists "packages"`);
}

const direct = [];
const mismatches = [];
for (const [group, deps] of [['dependencies', manifest.dependencies ?? {}], ['devDependencies', manifest.devDependencies ?? {}]]) {
  for (const [name, range] of Object.entries(deps)) {
    const locked = lock.packages[`node_modules/${name}`];
    if (locked === undefined) fail(`${name} (${group} ${range}) is not in package-lock.json; run npm install`);
    const installedFile = path.join(root, 'node_modules', name, 'package.json');
    const installed = existsSync(installedFile) ? readJsonOrFail(installedFile).version : null;
    if (installed !== locked.version) mismatches.push(`${name}: locked ${locked.version}, installed ${installed ?? 'nothing'}`);
    direct.push({ name, group, range, locked: locked.version, installed, license: locked.license ?? 'UNKNOWN', integrity: locked.integrity ?? null });
  }
}

const licenses = {};
let treeSize = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  if (key === '' || !key.includes('node_modules/')) continue; // the root project and workspace links
  treeSize++;
  const license = pkg.license ?? 'UNKNOWN';
  licenses[license] = (licenses[license] ?? 0) + 1;
}
const sortedLicenses = Object.fromEntries(Object.entries(licenses).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));

const report = {
  generatedAt: new Date().toISOString(),
  project: { name: manifest.name, version: manifest.version, license: manifest.license ?? null },
  lockfileVersion: lock.lockfileVersion,
  direct,
  tree: { packages: treeSize, licenses: sortedLicenses },
  mismatches,
};
const written = writeOutput(args.out, JSON.stringify(report, null, 2) + '\n');

const runtimeDeps = direct.filter((d) => d.group === 'dependencies');
say(`${manifest.name}@${manifest.version}: ${runtimeDeps.length} dependencies, ${direct.length - runtimeDeps.length} devDependencies, ${treeSize} packages in the locked tree`);
say(`  runtime: ${runtimeDeps.map((d) => `${d.name}@${d.locked}`).join(', ')}`);
say(`  licenses: ${Object.entries(sortedLicenses).map(([l, n]) => `${l} ×${n}`).join(', ')}`);
say(mismatches.length === 0 ? 'node_modules matches package-lock.json for every direct dependency' : `WARNING: ${mismatches.length} installed versions differ from the lock: ${mismatches.join('; ')}`);
say(`wrote ${args.out} (${formatBytes(written)})`);
