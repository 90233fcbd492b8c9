// Provisions what the test suite needs beyond npm packages, before `npm test` runs it
// (npm runs this as `pretest`): Chromium for the inspector's browser test, from Debian's
// packages. No test tool ever downloads a browser of its own. A dependency that cannot be
// provisioned fails here, loudly, with what to do; no test is skipped for it.
//
// Chromium: $STATECREW_CHROMIUM, else /usr/bin/chromium. When missing and this is a root shell
// on Debian (apt-get present), it is installed with apt-get; otherwise this exits 1 saying how
// to install it.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

const chromium = process.env.STATECREW_CHROMIUM ?? '/usr/bin/chromium';

function fail(message) {
  process.stderr.write(`provision: ${message}\n`);
  process.exit(1);
}

function versionOf(binary) {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

if (!fs.existsSync(chromium)) {
  if (process.env.STATECREW_CHROMIUM !== undefined) fail(`STATECREW_CHROMIUM is set to ${chromium}, which does not exist`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    fail(
      `the inspector's browser test needs Chromium at ${chromium}, and it is missing. ` +
        `Install Debian's package (\`sudo apt-get install chromium\`) or point STATECREW_CHROMIUM at a Chromium binary, then run npm test again.`,
    );
  }
  process.stdout.write('provision: installing Debian’s chromium (the inspector’s browser test drives it)…\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  } catch (error) {
    fail(`apt-get could not install chromium (${error.message}); install it by hand and run npm test again`);
  }
  if (!fs.existsSync(chromium)) fail(`apt-get installed chromium, but ${chromium} is still missing`);
}
const version = versionOf(chromium);
if (version === null) fail(`${chromium} is there but does not run (\`${chromium} --version\` failed)`);
process.stdout.write(`provision: ${version} at ${chromium}\n`);
