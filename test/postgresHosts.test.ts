import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../persistence/postgres/pgStore.js';
import { startPgServer, type PgServer } from '../scripts/pgServer.mjs';
import { runCli } from './helpers/cli.js';
import { childOf, startIsolatedHost } from './helpers/netns.js';
import { tempDir } from './helpers/tempStore.js';
import { collectStdout, exitOf, expectSharedOnce, overlaps, readTicks, startStatecrew, tickUnit, whenTicks, type Tick } from './helpers/ticks.js';

/**
 * Several hosts on one PostgreSQL store, simulated on one machine: each `statecrew run` in a
 * PID namespace of its own (`unshare --pid --fork --mount-proc`), so no runtime can see or
 * signal another's processes, as on separate hosts. `--kill-child`: when the namespace's
 * `unshare` dies, its runtime (the namespace's init) is killed, and with it every turn it ran.
 */
const HOST = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
const LIBFAKETIME = process.env.STATECREW_LIBFAKETIME ?? '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/**
 * A host whose wall clock is `seconds` off the true time: libfaketime in every process of it
 * (its runtime, its turns' shims), monotonic clocks untouched. Provisioned by scripts/provision.mjs.
 */
function skewedHost(seconds: number): string[] {
  // NO_FAKE_STAT: a skewed host's clock does not move the file system's timestamps, which
  // libfaketime would otherwise shift in what stat() returns to C programs (the turn shim reads
  // the keep-alive file's modification time with it; Node's statx is not intercepted).
  return ['env', `LD_PRELOAD=${LIBFAKETIME}`, `FAKETIME=${seconds >= 0 ? '+' : ''}${seconds}`, 'FAKETIME_DONT_FAKE_MONOTONIC=1', 'NO_FAKE_STAT=1', ...HOST];
}

let server: PgServer;
let dir: string;
let cleanup: () => void;
let ticks: string;
let schemas = 0;
let url: string;

beforeAll(async () => {
  server = await startPgServer();
}, 60_000);

afterAll(async () => {
  await server.stop();
});

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-pg-hosts-'));
  ticks = path.join(dir, 'ticks.jsonl');
  url = `${server.url}?schema=hosts_${++schemas}`;
});

afterEach(() => cleanup());

/**
 * Four independent milestones of three units each, `ms` per unit, on the PostgreSQL store.
 * `trueClock`: the tick logger runs without libfaketime (`env -u LD_PRELOAD`), so that ticks of
 * skewed hosts are on one time line.
 */
function writePlan(ms: number, workers: number, trueClock = false): string[] {
  const units: string[] = [];
  const lines = ['version: 1', `workers: ${workers}`, `store: ${JSON.stringify(url)}`, 'defaults: { retryBackoff: 100ms }', 'milestones:'];
  for (const m of ['m1', 'm2', 'm3', 'm4']) {
    lines.push(`  - id: ${m}`, '    units:');
    for (const u of ['a', 'b', 'c']) {
      units.push(`${m}/${u}`);
      const unit = tickUnit(`${m}/${u}`, ms, ticks);
      lines.push(trueClock ? unit.replace('command: [', 'command: ["/usr/bin/env", "-u", "LD_PRELOAD", ') : unit);
    }
  }
  fs.writeFileSync(path.join(dir, 'plan.yaml'), lines.join('\n'));
  return units;
}

async function storeView() {
  const store = new PostgresStore(url, { readonly: true });
  try {
    return { runtimes: await store.listRuntimes(), dispatches: await store.listDispatches(), ledger: await store.listLeaseLedger() };
  } finally {
    await store.close();
  }
}

describe('hosts sharing one PostgreSQL store', () => {
  it('two hosts share one plan: each unit runs once, never twice at a time, and both exit 0', async () => {
    const units = writePlan(300, 2);
    const first = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe', HOST);
    const firstOut = collectStdout(first);
    await whenTicks(ticks, (all) => all.some((t) => t.event === 'start'));
    const second = startStatecrew(dir, 'B', ['run', 'plan.yaml'], 'pipe', HOST);
    const secondOut = collectStdout(second);
    expect(await exitOf(first), firstOut()).toBe(0);
    expect(await exitOf(second), secondOut()).toBe(0);

    expectSharedOnce(readTicks(ticks), units, ['A', 'B'], expect);
    expect(firstOut() + secondOut()).not.toMatch(/took over|SIGTERM/);
    expect(firstOut() + secondOut()).not.toContain(server.password);
    const view = await storeView();
    expect(view.runtimes.map((r) => r.state)).toEqual(['stopped', 'stopped']);
    expect(new Set(view.runtimes.map((r) => r.hostId)).size).toBe(2);
    expect(view.dispatches.map((d) => `${d.unitId} ${d.state} attempt ${d.attempt}`).sort()).toEqual(units.map((unit) => `${unit} completed attempt 1`).sort());

    // `logs` from here (a third PID namespace): a log it can read is printed; one that is not here is named with its host and path.
    const [shown, missing] = view.dispatches;
    const printed = await runCli(dir, 'logs', shown?.unitId ?? '', '--store', url);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/^# statecrew turn /);
    // Its file gone from here, the log comes from the copy its runtime kept in the store, the same bytes.
    const file = fs.readFileSync(missing?.logPath ?? '', 'utf8');
    fs.rmSync(missing?.logPath ?? '');
    const stored = await runCli(dir, 'logs', missing?.unitId ?? '', '--store', url);
    expect(stored.code, stored.stderr).toBe(0);
    expect(stored.stdout).toBe(file);
    // Without a stored copy either, the message names the host and path that hold the file.
    server.psql(`DELETE FROM hosts_${schemas}.turn_output WHERE dispatch_id = '${missing?.id ?? ''}'`);
    const named = await runCli(dir, 'logs', missing?.unitId ?? '', '--store', url);
    expect(named.code).toBe(1);
    const host = view.runtimes.find((r) => r.hostId === missing?.hostId);
    expect(named.stderr).toContain(`is on host ${host?.host} (${missing?.hostId}), at ${missing?.logPath}: run \`statecrew logs\` there`);
    expect(named.stderr).not.toContain(server.password);
  });

  it('a host killed (SIGKILL) mid-run is taken over by the other once its heartbeat lapsed; its turns died with it; nothing ran twice at once', async () => {
    const units = writePlan(1500, 1);
    const args = ['run', 'plan.yaml', '--heartbeat-ttl', '600ms', '--lease-ttl', '1s', '--turn-grace', '1s'];
    const doomed = startStatecrew(dir, 'A', args, 'pipe', HOST);
    await whenTicks(ticks, (all) => all.some((t) => t.run === 'A' && t.event === 'start'));
    const survivor = startStatecrew(dir, 'B', args, 'pipe', HOST);
    const survivorOut = collectStdout(survivor);
    // Killed while B works and A is in the middle of a turn (a unit of A's started, not ended).
    const running = (all: Tick[]) => all.some((t) => t.run === 'A' && t.event === 'start' && !all.some((e) => e.run === 'A' && e.unit === t.unit && e.event === 'end'));
    await whenTicks(ticks, (all) => all.some((t) => t.run === 'B' && t.event === 'start') && running(all));
    doomed.kill('SIGKILL');
    expect(await exitOf(doomed)).toBeNull();

    expect(await exitOf(survivor), survivorOut()).toBe(0);
    expect(survivorOut()).toMatch(/took over runtime-1 \(heartbeat of runtime-1 on .* lapsed\): \d+ actors restored/);
    const all = readTicks(ticks);
    // A's turn in flight was killed with its namespace at once; B retried it only after the takeover.
    expect(overlaps(all)).toEqual([]);
    for (const unit of units) expect(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
    const view = await storeView();
    expect(view.runtimes.find((r) => r.id === 'runtime-1')).toMatchObject({ state: 'dead' });
    expect(view.runtimes.find((r) => r.id === 'runtime-2')).toMatchObject({ state: 'stopped' });
    // The unit A was running has a second dispatch: its first ended lost, or canceled when B's
    // holder stopped the adopted turn first (its lease had passed on).
    const dispatchesPerUnit = units.map((unit) => view.dispatches.filter((d) => d.unitId === unit).length);
    expect(Math.max(...dispatchesPerUnit), 'the unit A was running is run again').toBeGreaterThanOrEqual(2);
    for (const unit of units) expect(view.dispatches.filter((d) => d.unitId === unit && d.state === 'completed'), unit).toHaveLength(1);
  });
});

describe('a host stopped (SIGSTOP) past its heartbeat TTL', () => {
  it('its turn ends by its keep-alive, the other host takes over only after that and retries it, and resumed (SIGCONT) it is fenced and rejoins', async () => {
    // Turns of 4 s, longer than the stopped host's bound (3.05 s after its last heartbeat, minus
    // what was left of a TTL): a turn in flight when A stops can only end by its keep-alive, even
    // when this process saw its first tick late on a loaded machine (2.5 s turns once ended on
    // their own first, in a CI run).
    const units = writePlan(4000, 2);
    const args = ['run', 'plan.yaml', '--heartbeat-ttl', '600ms', '--lease-ttl', '1s', '--turn-grace', '1s'];
    const paused = startStatecrew(dir, 'A', args, 'pipe', HOST);
    const pausedOut = collectStdout(paused);
    await whenTicks(ticks, (all) => all.some((t) => t.run === 'A' && t.event === 'tick'));
    // The runtime is the namespace's init, the child of `unshare`: the turn's shim is not stopped with it.
    const runtimePid = await childOf(paused.pid ?? 0);
    process.kill(runtimePid, 'SIGSTOP');
    const stoppedAt = Date.now();
    const taker = startStatecrew(dir, 'B', args, 'pipe', HOST);
    const takerOut = collectStdout(taker);
    // Resumed only once B took it over (after the recorded bound) and ran something itself.
    await new Promise<void>((resolve) => {
      const look = (): void => {
        if (!/took over runtime-1/.test(takerOut())) return;
        taker.stdout?.off('data', look);
        resolve();
      };
      taker.stdout?.on('data', look);
    });
    await whenTicks(ticks, (all) => all.some((t) => t.run === 'B' && t.event === 'end'));
    process.kill(runtimePid, 'SIGCONT');
    const resumedAt = Date.now();

    expect(await exitOf(taker), takerOut()).toBe(0);
    expect(await exitOf(paused), pausedOut()).toBe(0);
    expect(takerOut()).toMatch(/took over runtime-1 \(heartbeat of runtime-1 on .* lapsed\)/);
    expect(pausedOut()).toMatch(/runtime runtime-1 was taken over by another runtime .*; rejoining/);
    const all = readTicks(ticks);
    expect(overlaps(all)).toEqual([]);
    for (const unit of units) expect(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
    // A's turn in flight was ended by its shim; B ran that unit again only afterwards (no overlap above).
    const view = await storeView();
    const lapsed = view.dispatches.filter((d) => d.reason !== null && /no runtime renewed the turn's keep-alive/.test(d.reason));
    const endings = view.dispatches.map((d) => `${d.unitId} ${d.state}: ${d.reason ?? ''}`).join('\n');
    expect(lapsed.length, `the stopped host's turn ended by its keep-alive; dispatches:\n${endings}`).toBeGreaterThanOrEqual(1);
    // (Before the resume: resumed, A rejoins as a new runtime and may run units again.)
    const lastTickOfA = Math.max(...all.filter((t) => t.run === 'A' && t.t < resumedAt && lapsed.some((d) => d.unitId === t.unit)).map((t) => t.t));
    expect(lastTickOfA - stoppedAt, 'ended within the recorded bound').toBeLessThanOrEqual(view.runtimes[0]?.turnGraceMs ?? 0);
    expect(view.runtimes.find((r) => r.id === 'runtime-1')).toMatchObject({ state: 'dead', turnGraceMs: 3_050 });
    for (const unit of units) expect(view.dispatches.filter((d) => d.unitId === unit && d.state === 'completed'), unit).toHaveLength(1);
  });
});

describe('a host whose link to the database is cut while its turns run', () => {
  it('its turn ends by its keep-alive; the other host takes over after the bound and retries it; nothing runs twice at once', async () => {
    // Turns of 2.5 s, longer than the cut-off host's bound (3.05 s after its last heartbeat, minus what was left of a TTL).
    const units = writePlan(2500, 2);
    const args = ['run', 'plan.yaml', '--heartbeat-ttl', '600ms', '--lease-ttl', '1s', '--turn-grace', '1s', '--store-wait', '60s'];
    const isolated = await startIsolatedHost(dir, 'A', args, url, dir);
    try {
      const cutOff = isolated.child;
      const cutOffOut = collectStdout(cutOff);
      await whenTicks(ticks, (all) => all.some((t) => t.run === 'A' && t.event === 'start'));
      isolated.cut();
      const cutAt = Date.now();
      const survivor = startStatecrew(dir, 'B', args, 'pipe', HOST);
      const survivorOut = collectStdout(survivor);

      expect(await exitOf(survivor), survivorOut()).toBe(0);
      expect(survivorOut()).toMatch(/took over runtime-1 \(heartbeat of runtime-1 on .* lapsed\)/);
      const all = readTicks(ticks);
      expect(overlaps(all)).toEqual([]);
      for (const unit of units) expect(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
      const view = await storeView();
      const lapsed = view.dispatches.filter((d) => d.reason !== null && /no runtime renewed the turn's keep-alive/.test(d.reason));
      expect(lapsed.length, 'the cut-off host\'s turn ended by its keep-alive').toBeGreaterThanOrEqual(1);
      const lastTickOfA = Math.max(...all.filter((t) => t.run === 'A').map((t) => t.t));
      expect(lastTickOfA - cutAt, 'A ran nothing past its recorded bound').toBeLessThanOrEqual(3_050);
      expect(view.runtimes.find((r) => r.id === 'runtime-1')).toMatchObject({ state: 'dead' });
      for (const unit of units) expect(view.dispatches.filter((d) => d.unitId === unit && d.state === 'completed'), unit).toHaveLength(1);
      // Still cut off, A is waiting for its store (up to --store-wait) and runs nothing.
      expect(cutOff.exitCode, cutOffOut()).toBeNull();
      cutOff.kill('SIGKILL');
      await exitOf(cutOff);
    } finally {
      await isolated.dispose();
    }
  });
});

describe('hosts whose clocks differ', () => {
  it('two hosts 10 s apart (+5 s and -5 s) share one plan on the database clock: no lease taken from a live holder, no live runtime declared dead', async () => {
    const units = writePlan(600, 2, true);
    // Lease TTL 2.5 s and heartbeat TTL 1.5 s, well under the skew: on their own clocks, each host
    // would find every lease and heartbeat of the other long expired. (With a 600 ms heartbeat and
    // a 1 s turn grace, a turn's keep-alive could lapse on a loaded 2-core machine, which is
    // another test's subject: the skew here is what matters.)
    const args = ['run', 'plan.yaml', '--heartbeat-ttl', '1500ms', '--lease-ttl', '2500ms', '--turn-grace', '2s'];
    const ahead = startStatecrew(dir, 'A', args, 'pipe', skewedHost(5));
    const behind = startStatecrew(dir, 'B', args, 'pipe', skewedHost(-5));
    const aheadOut = collectStdout(ahead);
    const behindOut = collectStdout(behind);
    expect(await exitOf(ahead), aheadOut()).toBe(0);
    expect(await exitOf(behind), behindOut()).toBe(0);

    expect(aheadOut() + behindOut()).not.toMatch(/took over|lease .* lost|SIGTERM/);
    expectSharedOnce(readTicks(ticks), units, ['A', 'B'], expect);
    const view = await storeView();
    expect(view.runtimes.map((r) => r.state)).toEqual(['stopped', 'stopped']);
    const failed = view.dispatches.filter((d) => d.state !== 'completed').map((d) => `${d.id} ${d.state}: ${d.reason ?? ''}`);
    expect(view.dispatches.map((d) => `${d.unitId} ${d.state} attempt ${d.attempt}`).sort(), failed.join('\n')).toEqual(units.map((unit) => `${unit} completed attempt 1`).sort());
    // One claim per milestone: no lease was ever taken over from a live holder.
    expect(view.ledger.map((entry) => entry.fencingToken)).toEqual([1, 1, 1, 1]);
  });
});

describe('a PostgreSQL store that goes away mid-run', () => {
  it('waits out a restart of the server and pg_terminate_backend of its connections, then finishes every unit once', async () => {
    const units = writePlan(400, 2);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe', HOST);
    const out = collectStdout(run);
    let errors = '';
    run.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    // A run that ends early (it once died of an unheard 'error' event of a pooled connection) fails the test at once.
    const ended = exitOf(run).then((code) => {
      throw new Error(`the run ended (${code}) before its units:\n${out()}\n${errors}`);
    });
    const ends = (n: number) => Promise.race([whenTicks(ticks, (all) => all.filter((t) => t.event === 'end').length >= n), ended]);
    await ends(2);
    // Every connection of the runtime (pool and listener) is cut, mid-job or idle.
    server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'statecrew%' AND pid <> pg_backend_pid()");
    await ends(5);
    await server.restart();
    expect(await exitOf(run), out() + errors).toBe(0);
    expect(errors).not.toMatch(/Unhandled|uncaught/i);

    expect(out()).toMatch(/the store is unavailable .*; waiting, retry \d+ in/);
    expect(out()).toMatch(/the store is available again after/);
    expect(out()).toMatch(/12\/12 units completed/);
    const all = readTicks(ticks);
    expect(overlaps(all)).toEqual([]);
    for (const unit of units) expect(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
    const view = await storeView();
    expect(view.dispatches.filter((d) => d.state === 'completed').map((d) => d.unitId).sort()).toEqual([...units].sort());
  });
});

