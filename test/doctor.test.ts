import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../actors/processes.js';
import { SqliteStore } from '../persistence/sqliteStore.js';
import type { DoctorReport } from '../src/doctor.js';
import { tempDir } from './helpers/tempStore.js';
import { CLI_PATH, exitOf, readTicks, startStatecrew, tickUnit, whenTicks } from './helpers/ticks.js';

let dir: string;
let cleanup: () => void;
let ticks: string;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-doctor-'));
  ticks = path.join(dir, 'ticks.jsonl');
});

afterEach(() => {
  for (const pid of new Set(readTicks(ticks).map((t) => t.pid))) {
    if (isProcessAlive(pid, null)) process.kill(pid, 'SIGKILL');
  }
  cleanup();
});

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd: dir });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { code: await exitOf(child), stdout, stderr };
}

function writePlan(unitMs: number): void {
  fs.writeFileSync(
    path.join(dir, 'plan.yaml'),
    ['version: 1', 'workers: 1', 'store: state/s.db', 'milestones:', '  - id: m', '    units:', tickUnit('m/long', unitMs, ticks), tickUnit('m/next', 50, ticks)].join('\n'),
  );
}

const doctorJson = async (...extra: string[]) => {
  const result = await cli('doctor', '--store', 'state/s.db', '--json', ...extra);
  return { code: result.code, report: JSON.parse(result.stdout) as DoctorReport & { fixed?: { killed: number[]; reconciled: boolean } } };
};

describe('statecrew doctor', () => {
  it('reports a healthy store after a completed run (exit 0)', async () => {
    writePlan(50);
    expect((await cli('run', 'plan.yaml')).code).toBe(0);
    const { code, report } = await doctorJson();
    expect(code).toBe(0);
    expect(report.integrity).toEqual(['ok']);
    expect(report.findings).toEqual([]);
    expect(report.runtimes).toEqual([expect.objectContaining({ id: 'runtime-1', state: 'stopped', live: false })]);
  });

  it('finds what a killed run left behind and --fix reconciles it, so a later run completes', async () => {
    writePlan(60_000);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml']);
    await whenTicks(ticks, (all) => all.some((t) => t.event === 'tick'));
    run.kill('SIGKILL');
    await exitOf(run);
    const orphanPid = readTicks(ticks)[0]!.pid;
    expect(isProcessAlive(orphanPid, null)).toBe(true);
    // A lease left held in the ledger past its expiry by a holder no actor represents.
    const raw = SqliteStore.fromPath(path.join(dir, 'state', 's.db'));
    await raw.claimLease({ milestoneId: 'ghost', holderId: 'worker-99', leaseId: 'ghost@lease-1', ttlMs: 1, now: 0 });
    await raw.close();

    const { code, report } = await doctorJson();
    expect(code).toBe(1);
    const kinds = report.findings.map((f) => `${f.kind} ${f.subject}`);
    expect(kinds).toEqual(
      expect.arrayContaining(['stale-runtime runtime-1', 'expired-lease ghost', 'orphaned-dispatch m/long#1', expect.stringMatching(/^orphan-process \d+$/)]),
    );
    const human = await cli('doctor', '--store', 'state/s.db');
    expect(human.stdout).toMatch(/stale: process \d+ of runtime-1 is gone/);

    const fixed = await doctorJson('--fix');
    expect(fixed.code).toBe(0);
    expect(fixed.report.fixed?.reconciled).toBe(true);
    expect(fixed.report.fixed?.killed.length).toBeGreaterThan(0);
    expect(fixed.report.findings).toEqual([]);
    expect(isProcessAlive(orphanPid, null)).toBe(false);

    writePlan(50);
    expect((await cli('run', 'plan.yaml')).code).toBe(0);
    const ends = readTicks(ticks).filter((t) => t.event === 'end').map((t) => t.unit);
    expect(ends.sort()).toEqual(['m/long', 'm/next']);
  });

  it('exits 2 without creating anything when there is no store', async () => {
    const result = await cli('doctor', '--store', 'missing.db');
    expect(result.code).toBe(2);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
