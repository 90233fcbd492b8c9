// The ActorHost's own cost per one-transition job (a store that writes nothing), in a process
// of its own, for comparing two builds side by side (not part of `npm run bench`):
//
//   node bench/hostCost.mjs <checkout> <events per await>
//
// <checkout>: the folder of a built statecrew checkout whose bench/transitions.mjs exports
// createBenchHost, createNullStore and runInMemory (6f36d33 and later). <events per await>: 1
// sends each event once the commit of the one before resolved, as an effect does; 20000 sends
// all 20,000 events in one synchronous burst. Prints µs per transition (median of 6 rounds
// after 2 warm-up rounds) for the host and for the same machine in memory.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [checkout, perAwaitText] = process.argv.slice(2);
const perAwait = Number(perAwaitText);
if (checkout === undefined || !(Number.isInteger(perAwait) && perAwait > 0)) {
  throw new Error('usage: node bench/hostCost.mjs <checkout> <events per await>');
}
const from = (file) => pathToFileURL(path.resolve(checkout, file)).href;
const { createBenchHost, createNullStore, runInMemory } = await import(from('bench/transitions.mjs'));
const { workerLikeEvents } = await import(from('bench/lib/workerLike.mjs'));
const events = workerLikeEvents(20_000);
const bench = await createBenchHost(createNullStore(), { groupCommit: false });

async function hosted(id) {
  const start = performance.now();
  bench.host.create('worker', id, { workerId: id });
  for (let i = 0; i < events.length; i += perAwait) {
    for (let j = i; j < Math.min(i + perAwait, events.length); j++) bench.host.send(id, events[j]);
    // 6f36d33's host wrote inside `send` and has no committed().
    if (typeof bench.host.committed === 'function') await bench.host.committed();
  }
  const ms = performance.now() - start;
  bench.host.detach(id);
  return ms;
}

const host = [];
const memory = [];
for (let round = 0; round < 8; round++) {
  memory.push(runInMemory(events, `memory-${round}`));
  host.push(await hosted(`hosted-${round}`));
}
const median = (xs) => [...xs.slice(2)].sort((a, b) => a - b)[Math.floor((xs.length - 2) / 2)];
const us = (ms) => ((ms * 1000) / events.length).toFixed(1);
console.log(`${checkout}, ${perAwait} per await: host ${us(median(host))} µs, in memory ${us(median(memory))} µs per transition`);
