import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  findProcessesByEnv,
  findProcessesByEnvSoon,
  isProcessAlive,
  killProcesses,
  killProcessGroup,
  listProcessGroup,
  parseProcessStat,
  processStartTime,
  readProcessStat,
} from '../actors/processes.js';
import { systemClock } from '../core/clock.js';

/** Above PID_MAX_LIMIT (2^22) on every Linux, so no process can have it. */
const IMPOSSIBLE_PID = 4_194_305;

type Fixture = ChildProcessByStdio<null, Readable, null>;
const started: Fixture[] = [];

/** Starts a fixture script in its own process group (pgid = pid), stdout piped. */
function startFixture(name: string, args: readonly string[] = [], env: Record<string, string> = {}): Fixture {
  const script = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  const child = spawn(process.execPath, [script, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  started.push(child);
  return child;
}

async function firstLine(child: Fixture): Promise<string> {
  return lineMatching(child, /./);
}

/** The first stdout line matching `pattern` (other lines are skipped). */
async function lineMatching(child: Fixture, pattern: RegExp): Promise<string> {
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    if (pattern.test(line)) {
      lines.close();
      return line;
    }
  }
  throw new Error(`stdout ended without a line matching ${pattern}`);
}

async function grandchildOf(child: Fixture): Promise<number> {
  return Number(/^grandchild (\d+)$/.exec(await lineMatching(child, /^grandchild \d+$/))?.[1]);
}

function pidOf(child: Fixture): number {
  if (child.pid === undefined) throw new Error('fixture did not start');
  return child.pid;
}

afterEach(async () => {
  for (const child of started.splice(0)) {
    await killProcessGroup(pidOf(child), { graceMs: 0, clock: systemClock });
    child.stdout.destroy();
  }
});

describe('parseProcessStat', () => {
  it('takes the fields after the last parenthesis when the comm contains spaces and parentheses', () => {
    const fillers = Array.from({ length: 16 }, (_, i) => String(100 + i)); // fields 6 to 21
    const line = `4242 (evil ) S 1 2 (name)) Z 17 4242 ${fillers.join(' ')} 987654 5 6\n`;
    expect(parseProcessStat(line)).toEqual({ pid: 4242, ppid: 17, pgid: 4242, state: 'Z', startTime: '987654' });
  });

  it('throws when the text is not a stat line', () => {
    expect(() => parseProcessStat('garbage')).toThrow(/unexpected \/proc stat format/);
  });
});

describe('readProcessStat', () => {
  it('reads pid, parent pid and start time of the calling process', () => {
    const stat = readProcessStat(process.pid);
    expect(stat).toMatchObject({ pid: process.pid, ppid: process.ppid });
    expect(stat?.startTime).toMatch(/^\d+$/);
    expect(processStartTime(process.pid)).toBe(stat?.startTime);
  });

  it('returns null when no process has the pid', () => {
    expect(readProcessStat(IMPOSSIBLE_PID)).toBeNull();
    expect(processStartTime(IMPOSSIBLE_PID)).toBeNull();
  });

  it('throws RangeError when the pid is not a positive integer', () => {
    expect(() => readProcessStat(0)).toThrow(RangeError);
    expect(() => readProcessStat(1.5)).toThrow(RangeError);
  });
});

describe('isProcessAlive', () => {
  it('is true for a running process with or without its recorded start time', async () => {
    const child = startFixture('silent-forever.mjs');
    await firstLine(child);
    const startTime = processStartTime(pidOf(child));
    expect(isProcessAlive(pidOf(child), startTime)).toBe(true);
    expect(isProcessAlive(pidOf(child), null)).toBe(true);
  });

  it('is false when the start time does not match, as for a recycled pid', async () => {
    const child = startFixture('silent-forever.mjs');
    await firstLine(child);
    const startTime = processStartTime(pidOf(child)) ?? '0';
    expect(isProcessAlive(pidOf(child), String(BigInt(startTime) + 1n))).toBe(false);
  });

  it('is false once the process exited, and for a pid nobody has', async () => {
    const child = startFixture('exit-with.mjs', ['0']);
    await once(child, 'exit');
    expect(isProcessAlive(pidOf(child), null)).toBe(false);
    expect(isProcessAlive(IMPOSSIBLE_PID, null)).toBe(false);
  });
});

describe('listProcessGroup', () => {
  it('lists the leader of a detached process group', async () => {
    const child = startFixture('silent-forever.mjs');
    await firstLine(child);
    expect(listProcessGroup(pidOf(child))).toEqual([pidOf(child)]);
  });

  it('lists a grandchild that outlived the group leader', async () => {
    const child = startFixture('fork-grandchild.mjs');
    const grandchild = await grandchildOf(child);
    await once(child, 'exit');
    expect(listProcessGroup(pidOf(child))).toEqual([grandchild]);
    expect(readProcessStat(grandchild)?.pgid).toBe(pidOf(child));
  });

  it('returns an empty list when the group has no process', () => {
    expect(listProcessGroup(IMPOSSIBLE_PID)).toEqual([]);
  });
});

describe('findProcessesByEnv', () => {
  it('finds a child by a marker environment variable and nothing else', async () => {
    const marker = randomUUID();
    const child = startFixture('silent-forever.mjs', [], { STATECREW_TEST_MARKER: marker });
    const other = startFixture('silent-forever.mjs', [], { STATECREW_TEST_MARKER: `${marker}-other` });
    await Promise.all([firstLine(child), firstLine(other)]);
    expect(findProcessesByEnv('STATECREW_TEST_MARKER', marker)).toEqual([pidOf(child)]);
    expect(findProcessesByEnv('TEST_MARKER', marker)).toEqual([]);
  });

  it('throws RangeError when the name is empty or contains "="', () => {
    expect(() => findProcessesByEnv('', 'x')).toThrow(RangeError);
    expect(() => findProcessesByEnv('A=B', 'x')).toThrow(RangeError);
    expect(() => findProcessesByEnvSoon('A=B', 'x')).toThrow(RangeError);
  });

  it('answers the calls of one macrotask with one scan, each with its own processes (findProcessesByEnvSoon)', async () => {
    const marker = randomUUID();
    const first = startFixture('silent-forever.mjs', [], { STATECREW_TEST_MARKER: `${marker}-1` });
    const second = startFixture('silent-forever.mjs', [], { STATECREW_TEST_MARKER: `${marker}-2` });
    await Promise.all([firstLine(first), firstLine(second)]);
    const asked = [`${marker}-1`, `${marker}-2`, `${marker}-1`, `${marker}-none`].map((value) => findProcessesByEnvSoon('STATECREW_TEST_MARKER', value));
    expect(await Promise.all(asked)).toEqual([[pidOf(first)], [pidOf(second)], [pidOf(first)], []]);
  });
});

describe('killProcessGroup', () => {
  it('sends no signal when the group has no live member', async () => {
    const report = await killProcessGroup(IMPOSSIBLE_PID, { graceMs: 100, clock: systemClock });
    expect(report.signals).toEqual([]);
    expect(report.pgid).toBe(IMPOSSIBLE_PID);
  });

  it('ends a process with SIGTERM alone when it honours it', async () => {
    const child = startFixture('silent-forever.mjs');
    await firstLine(child);
    const exited = once(child, 'exit');
    const report = await killProcessGroup(pidOf(child), { graceMs: 2_000, clock: systemClock });
    expect(report.signals).toEqual(['SIGTERM']);
    expect(report.durationMs).toBeLessThan(2_000);
    expect(await exited).toEqual([null, 'SIGTERM']);
  });

  it('sends SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const child = startFixture('ignore-sigterm.mjs');
    expect(await firstLine(child)).toBe('ready');
    const exited = once(child, 'exit');
    const report = await killProcessGroup(pidOf(child), { graceMs: 200, clock: systemClock, pollMs: 10 });
    expect(report.signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(report.durationMs).toBeGreaterThanOrEqual(200);
    expect(listProcessGroup(pidOf(child))).toEqual([]);
    expect(await exited).toEqual([null, 'SIGKILL']);
  });

  it('kills a grandchild left behind in the group', async () => {
    const child = startFixture('fork-grandchild.mjs');
    const grandchild = await grandchildOf(child);
    const start = processStartTime(grandchild);
    await killProcessGroup(pidOf(child), { graceMs: 200, clock: systemClock });
    expect(isProcessAlive(grandchild, start)).toBe(false);
  });

  it('refuses to signal init or the caller’s own group', async () => {
    const own = readProcessStat(process.pid)?.pgid ?? process.pid;
    await expect(killProcessGroup(own, { graceMs: 0, clock: systemClock })).rejects.toThrow(RangeError);
    await expect(killProcessGroup(1, { graceMs: 0, clock: systemClock })).rejects.toThrow(RangeError);
  });
});

describe('killProcesses', () => {
  it('kills orphans found by their marker and verifies they are gone', async () => {
    const marker = randomUUID();
    const children = [startFixture('silent-forever.mjs', [], { STATECREW_TEST_MARKER: marker }),
      startFixture('ignore-sigterm.mjs', [], { STATECREW_TEST_MARKER: marker })];
    await Promise.all(children.map(firstLine));
    const orphans = findProcessesByEnv('STATECREW_TEST_MARKER', marker);
    expect(orphans.sort()).toEqual(children.map(pidOf).sort());
    const report = await killProcesses(orphans, { graceMs: 150, clock: systemClock });
    expect(report.signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(report.pids.slice().sort()).toEqual(orphans.slice().sort());
    expect(findProcessesByEnv('STATECREW_TEST_MARKER', marker)).toEqual([]);
  });

  it('leaves out pids that are not alive', async () => {
    const report = await killProcesses([IMPOSSIBLE_PID], { graceMs: 0, clock: systemClock });
    expect(report).toMatchObject({ pids: [], signals: [] });
  });

  it('refuses to signal the caller itself', async () => {
    await expect(killProcesses([process.pid], { graceMs: 0, clock: systemClock })).rejects.toThrow(RangeError);
  });
});
