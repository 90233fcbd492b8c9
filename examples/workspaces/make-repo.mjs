// Makes the example's repository afresh: examples/out/workspaces/repo, a tiny JavaScript
// project on `main` with its own check (scripts/check.mjs) and the fixture agent the plan's
// units run (tools/fake-agent.mjs). Removes the example's earlier repository and store first.
// Usage: node examples/workspaces/make-repo.mjs [<examples folder>]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const examples = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const out = path.join(examples, 'out', 'workspaces');
const repo = path.join(out, 'repo');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(repo, { recursive: true });

const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('GIT_'))),
  GIT_AUTHOR_NAME: 'Example User',
  GIT_AUTHOR_EMAIL: 'user@example.invalid',
  GIT_COMMITTER_NAME: 'Example User',
  GIT_COMMITTER_EMAIL: 'user@example.invalid',
};
const git = (...args) => execFileSync('git', args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'inherit'] });
const write = (file, text) => {
  fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
  fs.writeFileSync(path.join(repo, file), text);
};

write('README.md', '# greeter\n\nA tiny project the workspaces example works on.\n');
write('CHANGELOG.md', '# Changelog\n\n');
write('package.json', `${JSON.stringify({ name: 'greeter', version: '0.1.0', type: 'module', private: true }, null, 2)}\n`);
fs.mkdirSync(path.join(repo, 'src'), { recursive: true });
write('scripts/check.mjs', fs.readFileSync(path.join(examples, 'workspaces', 'check.mjs'), 'utf8'));
write('tools/fake-agent.mjs', fs.readFileSync(path.join(examples, 'workspaces', 'fake-agent.mjs'), 'utf8'));
git('init', '--quiet', '--initial-branch=main');
git('add', '-A');
git('commit', '--quiet', '-m', 'greeter: initial commit');
console.log(`made ${path.relative(process.cwd(), repo) || repo} (main at ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim()})`);
