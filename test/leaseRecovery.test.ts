import { TurnKeepAlive } from '../actors/keepAlive.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LEASE_MACHINE_ID, LEASE_MACHINE_VERSION, leaseMachine } from '../machines/lease.js';
import { createLeaseEffects } from '../actors/leaseEffects.js';
import type { Store } from '../persistence/store.js';
import { ActorHost, type HostedActor } from '../src/actorHost.js';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { inertDefinitions } from './helpers/modelPaths.js';
import { drainEventLoop } from './helpers/runtimeEvents.js';
import { openStore, tempDir } from './helpers/tempStore.js';

/** Rows L1–L5 of docs/recovery.md: a lease actor restored in each state, with real store-backed effects and a manual clock. */

const TTL = 30_000;
let dir: string;
let cleanup: () => void;
let clock: ManualClock;
const opened: Store[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-lease-recovery-'));
  clock = createManualClock(1_000_000);
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  cleanup();
});

/** A fresh connection and host: a new runtime process, as far as the lease can tell. */
function newHost(): { store: Store; host: ActorHost } {
  const store = openStore(dir);
  opened.push(store);
  const definitions = inertDefinitions();
  const holder: { host?: ActorHost } = {};
  const lease = leaseMachine.provide({
    actors: createLeaseEffects({
      store,
      clock,
      logsDir: dir,
      recordedStart: () => Promise.resolve(null),
      committed: () => holder.host?.committed() ?? Promise.resolve(),
      flush: () => holder.host?.flush(),
      turnKeepAlive: new TurnKeepAlive({ graceMs: 30_000, renewEveryMs: 1_000, mayRenew: () => true, onError: (path, error) => { throw error; } }),
      heartbeatRecorded: () => Promise.resolve(),
    }),
  });
  const host = new ActorHost(store, clock, { ...definitions, lease: { kind: 'lease', machine: lease, machineId: LEASE_MACHINE_ID, machineVersion: LEASE_MACHINE_VERSION } }, {
    onTransition: () => undefined,
    onJobFailed: (error, detached) => {
      throw new Error(`unexpected refused job of ${detached.map((actor) => actor.id).join(', ')}: ${error.message}`);
    },
  });
  holder.host = host;
  return { store, host };
}

/**
 * A crash right after the job's commit, before any effect of it ran: flush starts the commit
 * (SQLite writes it synchronously), then the host is dropped.
 */
function crashAfterCommit(host: ActorHost): void {
  host.flush();
  host.detachAll();
}

async function heldLease(): Promise<{ store: Store; host: ActorHost; lease: HostedActor }> {
  const first = newHost();
  const lease = first.host.create('lease', 'm@lease-1', { leaseId: 'm@lease-1', milestoneId: 'm', workerId: 'w1', ttlMs: TTL });
  await drainEventLoop();
  expect(lease.state).toBe('held');
  return { ...first, lease };
}

async function restore(): Promise<{ store: Store; lease: HostedActor }> {
  const second = newHost();
  const record = await second.store.getActor('m@lease-1');
  if (record === undefined) throw new Error('no lease row');
  return { store: second.store, lease: second.host.restore(record) };
}

describe('lease recovery', () => {
  it('L1 claiming: the claim runs again and is granted once, with the first token (idempotent for the same lease)', async () => {
    const first = newHost();
    first.host.create('lease', 'm@lease-1', { leaseId: 'm@lease-1', milestoneId: 'm', workerId: 'w1', ttlMs: TTL });
    crashAfterCommit(first.host); // before the claim effect ran
    const { store, lease } = await restore();
    await drainEventLoop();
    expect(lease.state).toBe('held');
    expect((await store.getLease('m'))).toMatchObject({ holderId: 'w1', leaseId: 'm@lease-1', fencingToken: 1 });
  });

  it('L1 claiming while another live holder has the milestone: refused', async () => {
    const first = newHost();
    await first.store.claimLease({ milestoneId: 'm', holderId: 'w9', leaseId: 'other', ttlMs: TTL, now: clock.now() });
    first.host.create('lease', 'm@lease-1', { leaseId: 'm@lease-1', milestoneId: 'm', workerId: 'w1', ttlMs: TTL });
    crashAfterCommit(first.host);
    const { store, lease } = await restore();
    await drainEventLoop();
    expect(lease.state).toBe('refused');
    expect((await store.getActor('m@lease-1'))?.state).toBe('refused');
  });

  it('L2 held, token current and not expired: kept, and renewed on its original schedule', async () => {
    const { host } = await heldLease();
    host.detachAll();
    clock.advance(5_000);
    const { store, lease } = await restore();
    await drainEventLoop();
    expect(lease.state).toBe('held');
    clock.advance(5_000); // expiresAt - 2/3 ttl = +10 s after the claim
    await drainEventLoop();
    expect((await store.journal('m@lease-1')).at(-1)).toMatchObject({ eventType: 'RENEWED', toState: 'held' });
    expect((await store.getLease('m'))?.expiresAt).toBe(clock.now() + TTL);
  });

  it('L3 held, but its TTL ran out while no runtime ran: expired', async () => {
    const { host } = await heldLease();
    host.detachAll();
    clock.advance(TTL + 1);
    const { lease } = await restore();
    await drainEventLoop();
    expect(lease.state).toBe('expired');
  });

  it('L4 held, but taken over with a newer token meanwhile: lost', async () => {
    const { host, store } = await heldLease();
    host.detachAll();
    clock.advance(TTL + 1);
    expect((await store.claimLease({ milestoneId: 'm', holderId: 'w2', leaseId: 'm@lease-2', ttlMs: TTL, now: clock.now() }))).toMatchObject({
      granted: true,
      fencingToken: 2,
    });
    const restored = await restore();
    await drainEventLoop();
    expect(restored.lease.state).toBe('lost');
    expect((await restored.store.journal('m@lease-1')).at(-1)).toMatchObject({ eventType: 'LOST', toState: 'lost' });
  });

  it('L5 releasing: the release runs again and ends released (idempotent)', async () => {
    const { host, lease } = await heldLease();
    lease.actor.send({ type: 'RELEASE', reason: 'milestone completed' });
    crashAfterCommit(host); // before the release effect ran
    const { store, lease: restored } = await restore();
    await drainEventLoop();
    expect(restored.state).toBe('released');
    expect((await store.getLease('m'))).toMatchObject({ holderId: null, fencingToken: 1 });
  });
});
