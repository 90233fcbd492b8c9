import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { processStartTime, readProcessStat } from '../actors/processes.js';
import type { RuntimeRecord } from '../persistence/types.js';
import { deadVerdict } from '../src/liveness.js';
import { fixture } from './helpers/tempStore.js';

const NOW = 1_700_000_000_000;
const children: number[] = [];

afterEach(() => {
  for (const pid of children.splice(0)) process.kill(pid, 'SIGKILL');
});

/** The identity of the namespace the recorded runtimes are judged from. */
const HERE = { id: 'machine-a/boot-1/pid:4026531836', name: 'here' };

function record(overrides: Partial<RuntimeRecord>): RuntimeRecord {
  return {
    id: 'runtime-7',
    host: 'here',
    hostId: HERE.id,
    pid: process.pid,
    procStartTime: null,
    startedAt: NOW - 60_000,
    heartbeatAt: NOW,
    ttlMs: 10_000,
    turnGraceMs: null,
    state: 'running',
    endedAt: null,
    endReason: null,
    ...overrides,
  };
}

async function childProcess(): Promise<{ pid: number; startTime: string }> {
  const child = spawn(process.execPath, [fixture('silent-forever.mjs')], { stdio: ['ignore', 'pipe', 'ignore'] });
  await once(child.stdout, 'data');
  const pid = child.pid ?? 0;
  children.push(pid);
  return { pid, startTime: processStartTime(pid) ?? '' };
}

describe('deadVerdict', () => {
  it('leaves a running process alone even when its heartbeat is late', async () => {
    const { pid, startTime } = await childProcess();
    expect(deadVerdict(record({ pid, procStartTime: startTime, heartbeatAt: NOW - 60_000 }), NOW, HERE)).toBeNull();
  });

  it('declares a runtime dead when its process is gone', async () => {
    const { pid, startTime } = await childProcess();
    children.splice(children.indexOf(pid), 1);
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    // Gone, or a zombie not yet reaped by its parent: either way it can never beat again.
    expect(deadVerdict(record({ pid, procStartTime: startTime }), NOW, HERE)).toMatch(/is gone|has exited/);
  });

  it('never trusts a recycled pid: the same pid with another start time is not the runtime', async () => {
    const { pid, startTime } = await childProcess();
    expect(deadVerdict(record({ pid, procStartTime: `${startTime}0` }), NOW, HERE)).toMatch(/belongs to another process/);
  });

  it('declares a stopped (SIGSTOP) process dead only once its heartbeat lapsed', async () => {
    const { pid, startTime } = await childProcess();
    process.kill(pid, 'SIGSTOP');
    await waitState(pid, 'T');
    expect(deadVerdict(record({ pid, procStartTime: startTime, heartbeatAt: NOW - 5_000 }), NOW, HERE)).toBeNull();
    expect(deadVerdict(record({ pid, procStartTime: startTime, heartbeatAt: NOW - 10_000 }), NOW, HERE)).toMatch(/stopped and its heartbeat lapsed/);
    process.kill(pid, 'SIGCONT');
  });

  it('judges a runtime on another host by its heartbeat alone, after two TTLs', () => {
    expect(deadVerdict(record({ host: 'elsewhere', hostId: 'machine-b/boot-1/pid:4026531836', heartbeatAt: NOW - 15_000 }), NOW, HERE)).toBeNull();
    expect(deadVerdict(record({ host: 'elsewhere', hostId: 'machine-b/boot-1/pid:4026531836', heartbeatAt: NOW - 20_000 }), NOW, HERE)).toMatch(/heartbeat .* lapsed/);
  });

  it('takes a runtime on another host over only once its turns ended by their keep-alive, when that is later than two TTLs', () => {
    // Recorded bound 41.25 s (TTL 10 s / 2 + grace 30 s + poll, capped kill grace, drain): its turns may run until then.
    const elsewhere = { host: 'elsewhere', hostId: 'machine-b/boot-1/pid:4026531836', turnGraceMs: 41_250 };
    expect(deadVerdict(record({ ...elsewhere, heartbeatAt: NOW - 20_000 }), NOW, HERE)).toBeNull();
    expect(deadVerdict(record({ ...elsewhere, heartbeatAt: NOW - 43_249 }), NOW, HERE)).toBeNull();
    expect(deadVerdict(record({ ...elsewhere, heartbeatAt: NOW - 43_250 }), NOW, HERE)).toMatch(/heartbeat .* lapsed/);
    // A short grace does not shorten the two TTLs.
    expect(deadVerdict(record({ ...elsewhere, turnGraceMs: 2_000, heartbeatAt: NOW - 19_999 }), NOW, HERE)).toBeNull();
  });

  it('never reads the pid of a runtime in another PID namespace or boot of this machine, whatever its hostname says', async () => {
    // Its pid names no process here, or an unrelated one: a gone pid must not make it dead,
    // a live one must not keep it alive past its heartbeat.
    const { pid, startTime } = await childProcess();
    children.splice(children.indexOf(pid), 1);
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    for (const hostId of ['machine-a/boot-1/pid:4026532178', 'machine-a/boot-2/pid:4026531836']) {
      expect(deadVerdict(record({ hostId, pid, procStartTime: startTime, heartbeatAt: NOW - 15_000 }), NOW, HERE)).toBeNull();
      expect(deadVerdict(record({ hostId, pid: process.pid, procStartTime: null, heartbeatAt: NOW - 20_000 }), NOW, HERE)).toMatch(/heartbeat .* lapsed/);
    }
  });

  it('judges a runtime registered before identities were recorded by its hostname, as before', async () => {
    const { pid, startTime } = await childProcess();
    expect(deadVerdict(record({ hostId: null, pid, procStartTime: `${startTime}0` }), NOW, HERE)).toMatch(/belongs to another process/);
    expect(deadVerdict(record({ hostId: null, host: 'elsewhere', pid, procStartTime: `${startTime}0` }), NOW, HERE)).toBeNull();
  });

  it('ignores runtimes that ended', () => {
    expect(deadVerdict(record({ state: 'stopped', pid: 999_999_999 }), NOW, HERE)).toBeNull();
  });
});

/** Resolves when /proc shows `pid` gone (checked on each exit of a short-lived probe process, not on a timer). */
async function waitGone(pid: number): Promise<void> {
  while (readProcessStat(pid) !== null && readProcessStat(pid)?.state !== 'Z') {
    await once(spawn('true'), 'exit');
  }
}

async function waitState(pid: number, state: string): Promise<void> {
  while (readProcessStat(pid)?.state !== state) {
    await once(spawn('true'), 'exit');
  }
}
