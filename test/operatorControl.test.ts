import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../actors/processes.js';
import { openStoreAt } from '../persistence/openStore.js';
import { readStatus } from '../src/status.js';
import { fixture, tempDir } from './helpers/tempStore.js';
import { CLI_PATH, collectStdout, exitOf, startStatecrew } from './helpers/ticks.js';

/** A unit's usage fields in `status --json` when no turn reported cost or tokens (text protocol). */
const NO_USAGE = { costUsd: null, inputTokens: null, outputTokens: null, sessionId: null, resumeMismatches: 0, permissionDenials: [], waiting: null, failure: null };

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-control-'));
});

afterEach(() => cleanup());

const node = JSON.stringify(process.execPath);
const go = () => path.join(dir, 'go');
const waitsForGo = (id: string) => `      - { id: ${id}, command: [${node}, ${JSON.stringify(fixture('exit-when-file.mjs'))}, ${JSON.stringify(go())}, "0"] }`;

function writePlan(milestones: string[]): void {
  fs.writeFileSync(
    path.join(dir, 'plan.yaml'),
    ['version: 1', 'workers: 1', 'store: s.db', 'defaults: { stallTimeout: 1h, killGrace: 300ms, retryBackoff: 50ms }', 'milestones:', ...milestones].join('\n'),
  );
}

async function cli(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args, '--store', 's.db'], { cwd: dir });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { code: await exitOf(child), out };
}

/** Resolves with the match once the run's stdout has a matching line. */
function whenOutput(read: () => string, child: ReturnType<typeof startStatecrew>, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(read());
      if (match !== null) {
        child.stdout?.off('data', check);
        resolve(match);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => reject(new Error(`run exited before ${String(pattern)}:\n${read()}`)));
    check();
  });
}

async function store() {
  const opened = openStoreAt(path.join(dir, 's.db'));
  return { opened, status: await readStatus(opened), dispatches: await opened.listDispatches() };
}

describe('operator control across processes', () => {
  it('stop --worker kills the turn, verifies it gone, records it; the unit is pending again without using an attempt', async () => {
    writePlan(['  - id: m', '    units:', waitsForGo('m/u')]);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe');
    const out = collectStdout(run);
    const [, pid] = await whenOutput(out, run, /start +m\/u attempt 1 on worker-1 \(pid (\d+)\)/);
    const stop = await cli('stop', '--worker', 'worker-1');
    expect(stop).toMatchObject({ code: 0 });
    expect(stop.out).toMatch(/worker worker-1 stopped: the turn of m\/u was killed and verified gone; m\/u is pending again/);
    expect(isProcessAlive(Number(pid), null)).toBe(false);
    await whenOutput(out, run, /start +m\/u attempt 1 on worker-2/);
    fs.writeFileSync(go(), '');
    expect(await exitOf(run)).toBe(0);
    const { opened, status, dispatches } = await store();
    await opened.close();
    expect(dispatches.map((d) => [d.id, d.state, d.attempt])).toEqual([
      ['m/u#1', 'canceled', 1],
      ['m/u#2', 'completed', 1],
    ]);
    expect(status.workers).toEqual([
      { id: 'worker-1', state: 'stopped' },
      { id: 'worker-2', state: 'completed' },
    ]);
  });

  it('cancel kills the running turn, cancels the unit for good and blocks its dependents', async () => {
    writePlan(['  - id: a', '    units:', waitsForGo('a/u'), waitsForGo('a/later'), '  - id: b', '    dependsOn: [a]', '    units:', waitsForGo('b/u')]);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe');
    const out = collectStdout(run);
    const [, pid] = await whenOutput(out, run, /start +a\/u attempt 1 on worker-1 \(pid (\d+)\)/);
    const cancel = await cli('cancel', 'a/u');
    expect(cancel.code).toBe(0);
    expect(cancel.out).toMatch(/canceled a\/u \(its running turn was killed and verified gone\); blocked: a\/later, b\/u/);
    expect(isProcessAlive(Number(pid), null)).toBe(false);
    expect(await exitOf(run)).toBe(1);
    const { opened, status } = await store();
    await opened.close();
    expect(status.units.map((u) => [u.id, u.state])).toEqual([
      ['a/u', 'canceled'],
      ['a/later', 'blocked'],
      ['b/u', 'blocked'],
    ]);
    expect(status.milestones).toEqual([
      { id: 'a', state: 'failed', workspace: null, spentUsd: 0, failure: null },
      { id: 'b', state: 'blocked', workspace: null, spentUsd: 0, failure: null },
    ]);
  });

  it('pause stops new turns from starting (running ones finish) until resume; send queues the input of a unit’s next turns, in order', async () => {
    const echo = `      - { id: m/echo, input: "own input", command: [${node}, ${JSON.stringify(fixture('echo-stdin.mjs'))}] }`;
    writePlan(['  - id: m', '    units:', echo, waitsForGo('m/hold')]);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe');
    const out = collectStdout(run);
    await whenOutput(out, run, /start +m\/hold attempt 1/);
    expect((await cli('pause')).code).toBe(0);
    expect((await cli('send', 'm/echo', 'second')).code).toBe(0);
    // A worker id addresses the unit it is running.
    expect((await cli('send', 'worker-1', 'carry on')).out).toMatch(/message #2 queued for m\/hold/);
    expect((await cli('send', 'm/echo', 'third')).code).toBe(0);
    fs.writeFileSync(go(), '');
    await whenOutput(out, run, /done +m\/hold/);
    const pausedAt = Date.now();
    // While paused, the messages' turns do not start: the run is still alive, with them pending.
    const during = await store();
    await during.opened.close();
    expect(during.status.units.find((u) => u.id === 'm/echo')?.state).toBe('pending');
    expect((await cli('resume')).code).toBe(0);
    expect(await exitOf(run)).toBe(0);
    const logs = fs.readdirSync(path.join(dir, 'logs', 'm_echo')).filter((f) => f.endsWith('.log')).sort();
    const inputs = logs.map((file) => fs.readFileSync(path.join(dir, 'logs', 'm_echo', file), 'utf8').split('\n').filter((l) => !l.startsWith('#') && l !== '').join(''));
    expect(inputs).toEqual(['own input', 'second', 'third']);
    const after = await store();
    await after.opened.close();
    const echoTurns = after.dispatches.filter((d) => d.unitId === 'm/echo');
    expect(echoTurns.map((d) => [d.state, d.messageId])).toEqual([
      ['completed', null],
      ['completed', 1],
      ['completed', 3],
    ]);
    expect(after.dispatches.filter((d) => d.unitId === 'm/hold').map((d) => [d.state, d.messageId])).toEqual([
      ['completed', null],
      ['completed', 2],
    ]);
    expect(echoTurns[1]?.startedAt).toBeGreaterThanOrEqual(pausedAt);
  });

  it('stop (every runtime) drains the run: exit 130, turns killed, units pending', async () => {
    writePlan(['  - id: m', '    units:', waitsForGo('m/u')]);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe');
    const out = collectStdout(run);
    const [, pid] = await whenOutput(out, run, /start +m\/u attempt 1 on worker-1 \(pid (\d+)\)/);
    const stop = await cli('stop');
    expect(stop.code).toBe(0);
    expect(stop.out).toMatch(/stopped runtime-1/);
    expect(await exitOf(run)).toBe(130);
    expect(isProcessAlive(Number(pid), null)).toBe(false);
    const { opened, status } = await store();
    await opened.close();
    expect(status.units).toEqual([{ id: 'm/u', milestoneId: 'm', state: 'pending', attempts: 0, turns: 0, ...NO_USAGE }]);
  });

  it('exits non-zero when the target does not exist (2) or nothing is running (1)', async () => {
    writePlan(['  - id: m', '    units:', `      - { id: m/u, command: [${node}, ${JSON.stringify(fixture('exit-with.mjs'))}, "0"] }`]);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml']);
    expect(await exitOf(run)).toBe(0);
    expect((await cli('stop', '--worker', 'worker-9')).code).toBe(2);
    expect((await cli('cancel', 'nope')).code).toBe(2);
    expect((await cli('send', 'nope', 'hello')).code).toBe(2);
    expect((await cli('stop')).code).toBe(1);
    expect((await cli('stop', '--worker', 'worker-1')).code).toBe(1);
    expect((await cli('resume')).code).toBe(1);
    expect((await cli('cancel', 'm/u')).code).toBe(1);
  });
});
