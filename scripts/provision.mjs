// Provisions what the test suite needs beyond npm packages, before `npm test` runs it
// (npm runs this as `pretest`), from Debian's packages: Chromium for the inspector's browser
// test, and PostgreSQL's server binaries for the PostgreSQL store's tests (each test run starts
// throwaway servers of its own, scripts/pgServer.mjs), libfaketime for the clock-skew
// test, and git (2.39 or later) for the workspace tests. No test tool ever downloads a browser
// of its own. A dependency that cannot be provisioned fails here, loudly, with what to do; no
// test is skipped for it.
//
// Chromium: $STATECREW_CHROMIUM, else /usr/bin/chromium. PostgreSQL: $STATECREW_PG_BIN, else
// the newest /usr/lib/postgresql/*/bin. When missing and this is a root shell on Debian
// (apt-get present), they are installed with apt-get; otherwise this exits 1 saying how to
// install them.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { pgBinDir } from './pgServer.mjs';

const chromium = process.env.STATECREW_CHROMIUM ?? '/usr/bin/chromium';

function fail(message) {
  process.stderr.write(`provision: ${message}\n`);
  process.exit(1);
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
let aptUpdated = false;

/** Installs Debian `packages` with apt-get (root only); exits 1 with `manual` when that cannot be done. */
function aptInstall(packages, why, manual) {
  if (!isRoot || !hasApt) fail(manual);
  process.stdout.write(`provision: installing Debian’s ${packages.join(', ')} (${why})…\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    if (!aptUpdated) execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
  } catch (error) {
    fail(`apt-get could not install ${packages.join(', ')} (${error.message}); install it by hand and run npm test again`);
  }
}

function versionOf(binary) {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

if (!fs.existsSync(chromium)) {
  if (process.env.STATECREW_CHROMIUM !== undefined) fail(`STATECREW_CHROMIUM is set to ${chromium}, which does not exist`);
  aptInstall(
    ['chromium'],
    'the inspector’s browser test drives it',
    `the inspector's browser test needs Chromium at ${chromium}, and it is missing. ` +
      `Install Debian's package (\`sudo apt-get install chromium\`) or point STATECREW_CHROMIUM at a Chromium binary, then run npm test again.`,
  );
  if (!fs.existsSync(chromium)) fail(`apt-get installed chromium, but ${chromium} is still missing`);
}
const version = versionOf(chromium);
if (version === null) fail(`${chromium} is there but does not run (\`${chromium} --version\` failed)`);
process.stdout.write(`provision: ${version} at ${chromium}\n`);

let pgBin;
try {
  pgBin = pgBinDir();
} catch (error) {
  if (process.env.STATECREW_PG_BIN !== undefined) fail(error.message);
  aptInstall(
    ['postgresql'],
    'the PostgreSQL store’s tests start throwaway servers',
    `the PostgreSQL store's tests need PostgreSQL's server binaries, and they are missing. ` +
      `Install Debian's package (\`sudo apt-get install postgresql\`) or point STATECREW_PG_BIN at a folder with initdb and postgres, then run npm test again.`,
  );
  pgBin = pgBinDir();
}
const pgVersion = versionOf(`${pgBin}/postgres`);
if (pgVersion === null) fail(`${pgBin}/postgres is there but does not run (\`postgres --version\` failed)`);
process.stdout.write(`provision: ${pgVersion} at ${pgBin}\n`);

// libfaketime: the clock-skew test runs hosts whose wall clocks are set ±2 s apart (LD_PRELOAD).
const libfaketime = process.env.STATECREW_LIBFAKETIME ?? '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
if (!fs.existsSync(libfaketime)) {
  if (process.env.STATECREW_LIBFAKETIME !== undefined) fail(`STATECREW_LIBFAKETIME is set to ${libfaketime}, which does not exist`);
  aptInstall(
    ['faketime'],
    'the clock-skew test sets hosts’ clocks apart',
    `the clock-skew test needs libfaketime at ${libfaketime}, and it is missing. ` +
      `Install Debian's package (\`sudo apt-get install faketime\`) or point STATECREW_LIBFAKETIME at libfaketime.so.1, then run npm test again.`,
  );
  if (!fs.existsSync(libfaketime)) fail(`apt-get installed faketime, but ${libfaketime} is still missing`);
}
process.stdout.write(`provision: libfaketime at ${libfaketime}\n`);

// git 2.39 or later: the workspace tests make real repositories, worktrees and merges.
const gitVersion = () => /git version (\d+)\.(\d+)/.exec(versionOf('git') ?? '');
if (gitVersion() === null) {
  aptInstall(
    ['git'],
    'the workspace tests run real repositories',
    "the workspace tests need git 2.39 or later, and git is missing. Install Debian's package (`sudo apt-get install git`), then run npm test again.",
  );
}
const [, gitMajor, gitMinor] = gitVersion() ?? [];
if (gitMajor === undefined || Number(gitMajor) < 2 || (Number(gitMajor) === 2 && Number(gitMinor) < 39)) {
  fail(`the workspace tests need git 2.39 or later, found ${versionOf('git') ?? 'none'}; install a newer git, then run npm test again`);
}
process.stdout.write(`provision: ${versionOf('git')}\n`);
