/**
 * The turn shim (native/turn-shim.c, built into dist/actors/turn-shim by `npm run build`) on its
 * own, as the runner starts it: real child processes, a real log and status file in a temp dir.
 * What the runner makes of it is in test/turnRunner.test.ts and test/turnAdoption.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../actors/processes.js';
import type { TurnStatus } from '../actors/turnStatus.js';
import { tempDir } from './helpers/tempStore.js';

const SHIM = fileURLToPath(new URL('../dist/actors/turn-shim', import.meta.url));

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-shim-'));
});
afterEach(() => cleanup());

interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly status: TurnStatus | null;
  readonly log: string;
}

/** Runs the shim to its end with `options` before `--` and `command` after it. */
function runShim(command: readonly string[], options: readonly string[] = [], input = ''): Ran {
  const log = path.join(dir, 'turn.log');
  const statusFile = `${log}.status.json`;
  const ran = spawnSync(SHIM, [statusFile, log, ...options, '--', ...command], { input, env: { ...process.env, STATECREW_TURN_KEY: 'store:m/u#1' } });
  return {
    code: ran.status,
    signal: ran.signal,
    status: existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, 'utf8')) as TurnStatus) : null,
    log: existsSync(log) ? readFileSync(log, 'utf8') : '',
  };
}

const node = (script: string) => [process.execPath, '-e', script];

describe('the turn shim', () => {
  it('logs stdout and stderr, copies stdout alone, and records the exit code, byte count and turn key', () => {
    const stdoutFile = path.join(dir, 'stdout.jsonl');
    const ran = runShim(node('process.stdout.write("out\\n"); process.stderr.write("err\\n"); process.exitCode = 3'), ['--stdout', stdoutFile]);
    expect(ran.code).toBe(3);
    expect(ran.log.split('\n').sort()).toEqual(['', 'err', 'out']);
    expect(readFileSync(stdoutFile, 'utf8')).toBe('out\n');
    expect(ran.status).toMatchObject({ exitCode: 3, signal: null, lastStderrLine: 'err', outputBytes: 8, spawnError: null, logError: null, turnKey: 'store:m/u#1', keepAliveLapsedAt: null, descendantsLeft: false });
  });

  it('tells a signal from an exit code of 128 + n', () => {
    const exited = runShim(node('process.exit(137)'));
    expect(exited.status).toMatchObject({ exitCode: 137, signal: null });
    const killed = runShim(node('process.kill(process.pid, "SIGKILL")'));
    expect(killed.status).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(killed.code).toBe(137);
  });

  it('keeps the last non-empty stderr line: trimmed, unterminated counted, invalid UTF-8 replaced, cut at 1 KiB on a character boundary', () => {
    const trimmed = runShim(node('process.stderr.write("first\\r\\n  second  \\r\\n\\n   \\n")'));
    expect(trimmed.status?.lastStderrLine).toBe('second');
    const unterminated = runShim(node('process.stderr.write("a\\nlast without newline")'));
    expect(unterminated.status?.lastStderrLine).toBe('last without newline');
    const invalid = runShim(node('process.stderr.write(Buffer.from([0x62, 0xff, 0x61, 0x64, 0x0a]))'));
    expect(invalid.status?.lastStderrLine).toBe('b\uFFFDad');
    // 1,023 bytes of 'x' then 'é' (2 bytes): the character does not fit, so the line stops before it.
    const long = runShim(node('process.stderr.write("x".repeat(1023) + "é" + "y".repeat(5000) + "\\n")'));
    expect(long.status?.lastStderrLine).toBe('x'.repeat(1023));
    expect(runShim(node('0')).status?.lastStderrLine).toBeNull();
  });

  it('gives the command its stdin', () => {
    const ran = runShim(['cat'], [], 'the prompt');
    expect(ran.log).toBe('the prompt');
  });

  it('records why the command could not start: no such program, no such directory, log not writable', () => {
    expect(runShim(['statecrew-no-such-program'])).toMatchObject({
      code: 127,
      status: { exitCode: null, spawnError: 'spawn failed: ENOENT: spawn statecrew-no-such-program ENOENT' },
    });
    const missing = path.join(dir, 'missing');
    expect(runShim(['true'], ['--cwd', missing]).status?.spawnError).toBe(`spawn failed: ENOENT: working directory ${missing} does not exist`);
    const stdoutFile = path.join(dir, 'no-such-dir', 'stdout.jsonl');
    expect(runShim(['true'], ['--stdout', stdoutFile]).status?.spawnError).toMatch(/^log file .* cannot be opened: ENOENT: no such file or directory, open '.*stdout\.jsonl'$/);
  });

  it('refuses a malformed command line with exit code 2, writing nothing', () => {
    for (const args of [['only-status-file'], ['s', 'l', '--bogus', 'x', '--', 'true'], ['s', 'l', '--cwd', '/', '--cwd', '/', '--', 'true'], ['s', 'l', '--kill-grace', '-1', '--', 'true'], ['s', 'l', '--']]) {
      const ran = spawnSync(SHIM, args, { cwd: dir });
      expect(ran.status, args.join(' ')).toBe(2);
    }
    expect(existsSync(path.join(dir, 's'))).toBe(false);
  });

  it('records the exit while a grandchild still holds the pipes open (drained at most about a second)', async () => {
    const log = path.join(dir, 'turn.log');
    const statusFile = `${log}.status.json`;
    const pidFile = path.join(dir, 'grandchild.pid');
    // The command leaves a grandchild (in the group) that keeps writing to the inherited stdout.
    const script = `const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => process.stdout.write("."), 20)'], { stdio: 'inherit' }); require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid)); setTimeout(() => process.exit(0), 100)`;
    const shim = spawn(SHIM, [statusFile, log, '--', ...node(script)], { detached: true, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => shim.once('exit', resolve));
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    try {
      expect(code).toBe(0);
      expect(isProcessAlive(grandchild, null)).toBe(true);
      expect(JSON.parse(readFileSync(statusFile, 'utf8'))).toMatchObject({ exitCode: 0, signal: null, descendantsLeft: true });
    } finally {
      process.kill(-(shim.pid ?? 0), 'SIGKILL');
    }
  });

  it('knows, as the turn\'s subreaper, whether a process of the turn outlived it, even one that left the group (setsid)', () => {
    const pidFile = path.join(dir, 'escapee.pid');
    // The command starts a process in a session of its own and exits once it runs (it has
    // written its pid); the escapee writes a dot every 20 ms for `ms`, to `stdio`, then exits.
    const escapes = (ms: number, stdio: string) => {
      const escapee = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); const t = setInterval(() => process.stdout.write('.'), 20); setTimeout(() => clearInterval(t), ${ms})`;
      return `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(escapee)}], { detached: true, stdio: '${stdio}' }); const fs = require('fs'); while (!fs.existsSync(${JSON.stringify(pidFile)})) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); process.exit(0)`;
    };
    const outlived = runShim(node(escapes(60_000, 'ignore')));
    const escapee = Number(readFileSync(pidFile, 'utf8'));
    try {
      expect(isProcessAlive(escapee, null)).toBe(true);
      expect(outlived.status).toMatchObject({ exitCode: 0, descendantsLeft: true });
    } finally {
      process.kill(escapee, 'SIGKILL');
    }
    // The escapee holds the pipes for 300 ms: orphaned, it became the shim's child, and the shim
    // reaped it before writing the status, so nothing of the turn is left.
    rmSync(pidFile);
    const ended = runShim(node(escapes(300, 'inherit')));
    expect(ended.log.length).toBeGreaterThan(3);
    expect(ended.status).toMatchObject({ exitCode: 0, descendantsLeft: false });
    expect(isProcessAlive(Number(readFileSync(pidFile, 'utf8')), null)).toBe(false);
  });

  it('kills the turn once its keep-alive has lapsed, records when, then kills its whole group, itself included', async () => {
    const log = path.join(dir, 'turn.log');
    const statusFile = `${log}.status.json`;
    const keepAlive = path.join(dir, 'turn.keepalive');
    writeFileSync(keepAlive, '');
    // The file's modification time (now) is the instant the turn may run until: already past.
    const before = Date.now();
    // Detached, as the runner starts it: the shim leads the turn's process group.
    const shim = spawn(SHIM, [statusFile, log, '--keepalive', keepAlive, '--kill-grace', '100', '--', ...node('setTimeout(() => {}, 60_000)')], { detached: true, stdio: 'ignore' });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => shim.once('exit', (_code, how) => resolve(how)));
    expect(signal).toBe('SIGKILL');
    const status = JSON.parse(readFileSync(statusFile, 'utf8')) as TurnStatus;
    expect(status).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    expect(status.keepAliveLapsedAt).toBeGreaterThanOrEqual(before - 1000);
  });
});
