import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createWebSocketInspector, createWebSocketReceiver } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { fixture, tempDir } from './helpers/tempStore.js';

/**
 * `createRuntime({ inspect })` with Stately's own inspector: the runtime's actors — created
 * and, after a crash, restored — reach a WebSocket receiver through `@statelyai/inspect`'s
 * local relay server, as they would reach https://stately.ai/inspect for a user online.
 */

interface ReceivedEvent {
  readonly type: string;
  readonly name?: string;
  readonly sessionId: string;
  readonly snapshot?: { readonly value?: unknown; readonly context?: Record<string, unknown> };
  readonly event?: { readonly type: string };
}

let dir: string;
let cleanup: () => void;
let closeAll: (() => void)[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-stately-'));
});

afterEach(() => {
  for (const close of closeAll) close();
  closeAll = [];
  cleanup();
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Stately's relay server plus a receiver collecting what arrives; resolves once the receiver is connected. */
async function startRelay(): Promise<{ url: string; received: ReceivedEvent[]; arrived: (match: (event: ReceivedEvent) => boolean) => Promise<ReceivedEvent> }> {
  const port = await freePort();
  const relay = createInspectorServer({ port, autoOpen: false });
  closeAll.push(() => relay.stop());
  const url = `ws://127.0.0.1:${port}`;
  const received: ReceivedEvent[] = [];
  const waiters: { match: (event: ReceivedEvent) => boolean; resolve: (event: ReceivedEvent) => void }[] = [];
  const receiver = createWebSocketReceiver({ server: url });
  receiver.subscribe((event) => {
    const typed = event as unknown as ReceivedEvent;
    received.push(typed);
    for (const waiter of [...waiters]) {
      if (waiter.match(typed)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(typed);
      }
    }
  });
  const arrived = (match: (event: ReceivedEvent) => boolean) =>
    new Promise<ReceivedEvent>((resolve) => {
      const seen = received.find(match);
      if (seen !== undefined) resolve(seen);
      else waiters.push({ match, resolve });
    });
  return { url, received, arrived };
}

/**
 * A Stately WebSocket inspector whose connection is open: events sent before it opens are
 * queued (at most 200, oldest dropped), so the runtime starts only once a probe got through.
 */
async function connectedInspector(relay: Awaited<ReturnType<typeof startRelay>>) {
  const inspector = createWebSocketInspector({ url: relay.url });
  closeAll.push(() => inspector.stop());
  const probe = `probe-${Math.random()}`;
  inspector.actor(probe);
  await relay.arrived((e) => e.sessionId === probe);
  return inspector;
}

function plan(command: string) {
  return parsePlan(
    ['version: 1', 'workers: 1', 'defaults: { retryBackoff: 10ms, killGrace: 200ms, stallTimeout: 1h }', 'milestones:', '  - id: m', `    units: [{ id: m/u, command: ${command} }]`].join(
      '\n',
    ),
    { file: path.join(dir, 'plan.yaml'), cwd: dir },
  );
}

describe('createRuntime({ inspect }) with @statelyai/inspect', () => {
  it('sends the events of the actors a runtime creates, and of those it restores after a crash, to a WebSocket receiver', async () => {
    const relay = await startRelay();
    const storeFile = path.join(dir, 's.db');
    const node = JSON.stringify(process.execPath);

    // First runtime: crashed (detached, nothing more written) while its turn runs.
    const first = await connectedInspector(relay);
    const crashing = createRuntime({ store: storeFile, inspect: first.inspect });
    const crashed = new Promise<void>((resolve) =>
      crashing.events.on('actor.transition', (event) => {
        if (event.kind === 'worker' && event.event === 'TURN_STARTED') {
          crashing.detach();
          resolve();
        }
      }),
    );
    await crashing.start(plan(`[${node}, ${JSON.stringify(fixture('exit-when-file.mjs'))}, ${JSON.stringify(path.join(dir, 'go'))}, "0"]`));
    await crashed;

    // Stately names an actor by its id: the runtime's actor ids (worker-1, supervisor-runtime-1, …).
    const created = await relay.arrived((e) => e.type === '@xstate.actor' && e.name?.startsWith('worker-') === true);
    expect(created.snapshot?.context?.workerId).toBe(created.name);
    await relay.arrived((e) => e.type === '@xstate.snapshot' && e.sessionId === created.sessionId && e.event?.type === 'TURN_STARTED');
    await relay.arrived((e) => e.type === '@xstate.actor' && e.snapshot?.context?.unitId === 'm/u');

    // Second runtime on the same store: it restores the worker in_turn and adopts the turn.
    const second = await connectedInspector(relay);
    const restoring = createRuntime({ store: storeFile, inspect: second.inspect });
    await restoring.start(plan(`[${node}, ${JSON.stringify(fixture('exit-when-file.mjs'))}, ${JSON.stringify(path.join(dir, 'go'))}, "0"]`));
    const restoredWorker = await relay.arrived(
      (e) => e.type === '@xstate.actor' && e.name === created.name && e.sessionId !== created.sessionId && e.snapshot?.value === 'in_turn',
    );
    expect(restoredWorker.snapshot?.context?.workerId).toBe(created.name);
    await relay.arrived((e) => e.type === '@xstate.actor' && e.name === 'supervisor-runtime-2');

    fs.writeFileSync(path.join(dir, 'go'), '');
    const result = await restoring.finished;
    expect(result.exitCode).toBe(0);
    await relay.arrived((e) => e.type === '@xstate.snapshot' && e.sessionId === restoredWorker.sessionId && e.event?.type === 'TURN_ENDED');
  });
});
