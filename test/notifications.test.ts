import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { fixture, killRunningClis, startCli, writePlan } from './helpers/cli.js';
import { tempDir } from './helpers/tempStore.js';
import { startReceiver } from './helpers/webhookReceiver.js';

/**
 * Notifications (`notify:` in the plan): delivered to a webhook on 127.0.0.1 and to a command,
 * retried, carrying an idempotency key; durable through a SIGKILL of the runtime between the
 * transition and its delivery.
 */

let dir: string;
let cleanup: () => void;
const receivers: { close(): Promise<void> }[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-notify-'));
});

afterEach(async () => {
  await killRunningClis();
  for (const receiver of receivers.splice(0)) await receiver.close();
  cleanup();
});

const node = JSON.stringify(process.execPath);

describe('notifications', () => {
  it('tells a webhook and a command when a unit fails for good, milestones end and the run finishes; a 503 is retried with the same key', async () => {
    const receiver = await startReceiver((_request, index) => (index === 0 ? 503 : 200));
    receivers.push(receiver);
    const commandLog = path.join(dir, 'notified.jsonl');
    const plan = parsePlan(
      [
        'version: 1',
        'workers: 2',
        'notify:',
        `  - webhook: ${receiver.url}`,
        `  - command: [${node}, ${JSON.stringify(fixture('append-stdin.mjs'))}, ${JSON.stringify(commandLog)}]`,
        '    on: [unit.failed, run.finished]',
        'milestones:',
        '  - id: good',
        `    units: [{ id: good/u, command: [${node}, -e, "process.exit(0)"] }]`,
        '  - id: bad',
        `    units: [{ id: bad/u, command: [${node}, -e, "console.error('boom'); process.exit(3)"], maxAttempts: 2, retryBackoff: 10ms }]`,
      ].join('\n'),
      { file: path.join(dir, 'plan.yaml'), cwd: dir },
    );
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    const events: string[] = [];
    runtime.events.on('notification.delivered', (e) => events.push(`delivered ${e.event} after ${e.attempts}`));
    runtime.events.on('notification.failed', (e) => events.push(`failed ${e.event}: ${e.error}`));
    await runtime.start(plan);
    const result = await runtime.finished;
    expect(result.exitCode).toBe(1);

    // The webhook: one notification per fact, the first answered 503 and delivered again with the same key.
    // One reception per key: the last (the delivered attempt).
    const byEvent = (event: string) => [...new Map(receiver.received.filter((r) => r.event === event).map((r) => [r.key, r])).values()];
    expect(receiver.received[0]?.attempt).toBe(1);
    const first = receiver.received[0];
    expect(receiver.received.filter((r) => r.key === first?.key).map((r) => r.attempt)).toEqual([1, 2]);
    expect(new Set(receiver.received.map((r) => r.key)).size).toBe(4);
    const failed = byEvent('unit.failed');
    expect(failed.at(-1)?.body).toMatchObject({ event: 'unit.failed', unitId: 'bad/u', milestoneId: 'bad', dispatchId: 'bad/u#2', attempt: 2, exitCode: 3, reason: expect.stringMatching(/exit code 3/) as unknown });
    expect(failed.at(-1)?.key).toBe(failed.at(-1)?.body.key);
    expect(byEvent('milestone.completed').map((r) => r.body.milestoneId)).toEqual(['good']);
    expect(byEvent('milestone.failed').map((r) => r.body.milestoneId)).toEqual(['bad']);
    expect(byEvent('run.finished').at(-1)?.body).toMatchObject({ exitCode: 1, units: { total: 2, completed: 1, failed: 1 } });
    // The first attempt of bad/u (an attempt was left) notified nobody.
    expect(failed.every((r) => r.body.dispatchId === 'bad/u#2')).toBe(true);

    // The command: only the events it asked for, the body on stdin.
    const lines = fs.readFileSync(commandLog, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { event: string; key: string; body: { key: string } });
    expect(lines.map((line) => line.event).sort()).toEqual(['run.finished', 'unit.failed']);
    expect(lines.every((line) => line.key === line.body.key)).toBe(true);

    const store = openStoreAt(path.join(dir, 's.db'), { readonly: true });
    const rows = await store.listNotifications();
    await store.close();
    expect(rows.map((row) => row.state)).toEqual(rows.map(() => 'delivered'));
    expect(rows).toHaveLength(6);
    expect(events).toContain('delivered unit.failed after 1');
    expect(events.some((e) => /^failed .*: POST .* HTTP 503/.test(e))).toBe(true);
  });

  it('delivers a unit failure again after a SIGKILL between its transition and the delivery: a repeat with the same key, never a loss', async () => {
    // The first POST of unit.failed is held unanswered; the runtime is killed while it waits.
    let holding = true;
    const receiver = await startReceiver((request) => (holding && request.event === 'unit.failed' ? 'hold' : 200));
    receivers.push(receiver);
    writePlan(dir, {
      version: 1,
      workers: 1,
      store: 's.db',
      notify: [{ webhook: receiver.url, on: ['unit.failed'], timeout: '60s' }],
      milestones: [{ id: 'm', units: [{ id: 'm/u', command: [process.execPath, '-e', 'process.exit(5)'], maxAttempts: 1 }] }],
    });
    const run = startCli(dir, ['run', 'plan.yaml']);
    const sent = await receiver.waitFor((r) => r.event === 'unit.failed');
    run.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');

    // The failure and its notification were written in one job: both are there, not delivered.
    const store = openStoreAt(path.join(dir, 's.db'), { readonly: true });
    const [dispatch] = await store.listDispatches();
    const [row] = await store.listNotifications();
    await store.close();
    expect(dispatch).toMatchObject({ id: 'm/u#1', state: 'failed', exitCode: 5 });
    expect(row).toMatchObject({ key: sent.key, event: 'unit.failed', state: 'pending', attempts: 1, takenBy: 'runtime-1' });

    // The next run on the store takes the dead runtime's claim over and delivers it again.
    holding = false;
    const again = startCli(dir, ['run', 'plan.yaml']);
    expect((await again.done).code).toBe(1);
    const deliveries = receiver.received.filter((r) => r.key === sent.key);
    expect(deliveries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(deliveries[1]?.body).toEqual(deliveries[0]?.body);
    const after = openStoreAt(path.join(dir, 's.db'), { readonly: true });
    expect((await after.listNotifications()).map((n) => [n.key, n.state])).toEqual([[sent.key, 'delivered']]);
    await after.close();
  });

  it('has a final failure\'s notification in the store by the time the failed transition is reported', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const file = path.join(dir, 's.db');
    const plan = parsePlan(
      ['version: 1', 'notify:', `  - webhook: ${receiver.url}`, '    on: [unit.failed]', 'milestones:', '  - id: m', `    units: [{ id: m/u, command: [${node}, -e, "process.exit(7)"], maxAttempts: 1 }]`].join('\n'),
      { file: path.join(dir, 'plan.yaml'), cwd: dir },
    );
    const runtime = createRuntime({ store: file });
    // Read on a connection of its own, synchronously, as the failed transition is reported
    // (after its job committed).
    const reader = new Database(file, { readonly: true, fileMustExist: false });
    const seen: unknown[] = [];
    runtime.events.on('actor.transition', (e) => {
      if (e.kind === 'dispatch' && e.to === 'failed') seen.push(reader.prepare('SELECT key, state FROM notifications').all());
    });
    await runtime.start(plan);
    expect((await runtime.finished).exitCode).toBe(1);
    reader.close();
    expect(seen).toEqual([[{ key: expect.stringMatching(/^unit\.failed:m\/u#1:[0-9a-f]{12}$/) as unknown, state: 'pending' }]]);
    expect(receiver.received.map((r) => r.event)).toEqual(['unit.failed']);
  });
});
