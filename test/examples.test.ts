import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmbedServer, type EmbedServer } from '../examples/embed-http.js';
import { runScript } from '../examples/embed-script.js';
import { tempDir } from './helpers/tempStore.js';

/** The embedding examples, run as a user runs them (they import `statecrew`, the built package). */

let dir: string;
let cleanup: () => void;
let server: EmbedServer | undefined;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-examples-'));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  cleanup();
});

/** Reads server-sent events from `url` until `until` returns true for one; returns them all. */
async function readEvents(url: string, until: (type: string, data: Record<string, unknown>) => boolean): Promise<[string, Record<string, unknown>][]> {
  const response = await fetch(url);
  const reader = response.body?.getReader();
  if (reader === undefined) throw new Error('no event stream');
  const decoder = new TextDecoder();
  const events: [string, Record<string, unknown>][] = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended after ${events.length} events`);
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (type === undefined || data === undefined) continue;
      const parsed = JSON.parse(data) as Record<string, unknown>;
      events.push([type, parsed]);
      if (until(type, parsed)) {
        await reader.cancel();
        return events;
      }
    }
  }
}

describe('examples/embed-http.ts', () => {
  it('accepts units over HTTP, streams the runtime events as SSE, and answers actor queries', async () => {
    server = await startEmbedServer({ store: path.join(dir, 'http.db'), workers: 1, cwd: dir });
    const node = process.execPath;
    const completedBoth = readEvents(`${server.url}/events`, (type, data) => type === 'unit.completed' && data.unitId === 'two');
    const post = (body: unknown) => fetch(`${server?.url}/units`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const accepted = await post({ milestones: [{ id: 'm', units: [{ id: 'one', command: [node, '-e', '0'] }, { id: 'two', command: [node, '-e', '0'] }] }] });
    expect(accepted.status).toBe(202);
    expect(await accepted.json()).toEqual({ added: ['one', 'two'] });

    const events = await completedBoth;
    const units = events.filter(([type]) => type.startsWith('unit.')).map(([type, data]) => [type, data.unitId]);
    expect(units).toEqual([
      ['unit.started', 'one'],
      ['unit.completed', 'one'],
      ['unit.started', 'two'],
      ['unit.completed', 'two'],
    ]);
    expect(events.some(([type, data]) => type === 'actor.transition' && data.kind === 'lease')).toBe(true);

    const refused = await post({ milestones: [{ id: 'm', units: [{ id: 'one', command: [node] }, { id: 'x', command: 'node' }] }] });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { issues: { path: string }[] };
    expect(body.issues.map((issue) => issue.path)).toEqual(['milestones[0].units[1].command', 'milestones[0].units[0].id']);
    expect((await post('not json')).status).toBe(400);

    const dispatches = (await (await fetch(`${server.url}/actors?kind=dispatch`)).json()) as { id: string; state: string }[];
    expect(dispatches.map((d) => [d.id, d.state])).toEqual([
      ['one#1', 'completed'],
      ['two#1', 'completed'],
    ]);
    const one = (await (await fetch(`${server.url}/actors/${encodeURIComponent('one#1')}`)).json()) as { context: { unitId: string } };
    expect(one.context.unitId).toBe('one');
    expect((await fetch(`${server.url}/actors/nope`)).status).toBe(404);
    const progress = (await (await fetch(`${server.url}/progress`)).json()) as { units: { id: string; state: string }[] };
    expect(progress.units).toEqual([
      { id: 'one', state: 'completed', attempts: 1 },
      { id: 'two', state: 'completed', attempts: 1 },
    ]);
    const stopped = await fetch(`${server.url}/stop`, { method: 'POST' });
    expect(await stopped.json()).toEqual({ exitCode: 0, reason: 'stopped over HTTP' });
  });
});

describe('examples/embed-script.ts', () => {
  it('runs its plan to the end, printing progress, and resumes as already done on a second run', async () => {
    const lines: string[] = [];
    const first = await runScript({ dir, print: (line) => lines.push(line) });
    expect(first.exitCode).toBe(0);
    expect(lines.filter((line) => line.startsWith('completed')).map((line) => line.split(/\s+/)[1])).toEqual([
      'compile',
      'bundle',
      'publish',
    ]);
    expect(lines.at(-1)).toBe('3/3 units completed (exit code 0)');
    const again: string[] = [];
    expect((await runScript({ dir, print: (line) => again.push(line) })).exitCode).toBe(0);
    expect(again.filter((line) => line.startsWith('started'))).toEqual([]);
  });
});
