// Times of the inspector page in a real browser (Debian's Chromium through playwright-core, as the
// tests drive it) against `statecrew inspect` in a process of its own: from navigation (or a
// click) until what an operator looks at is drawn, measured from this process, so they include
// the requests, the server's reads and the page's own rendering.
/* global document, drawn -- the timing functions run inside the page */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const CLI = fileURLToPath(new URL('../../bin/statecrew.js', import.meta.url));

/** Starts `statecrew inspect --read-only` on `store` and resolves with its URL and a `stop()`. */
export async function startInspectProcess(store) {
  const child = spawn(process.execPath, [CLI, 'inspect', '--read-only', '--store', store], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /statecrew inspector: (http:\/\/\S+)/.exec(out);
      if (match !== null) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`statecrew inspect exited with ${code} before printing its URL: ${out}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

const CHROMIUM = process.env.STATECREW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TIMEOUT_MS = 60_000;

/**
 * Installed in each page: drawn(done, from, click) clicks `click` (a selector) if given, then
 * checks done() at every animation frame and resolves with ms from `from` (a performance.now()
 * value; 0 is navigation start) until it held.
 */
const DRAWN = `window.drawn = (done, from, click) => new Promise((resolve, reject) => {
  if (click !== undefined) document.querySelector(click).dispatchEvent(new MouseEvent('click', { bubbles: true }));
  const limit = performance.now() + ${60_000};
  const check = () => (done() ? resolve(performance.now() - from) : performance.now() > limit ? reject(new Error('not drawn within 60 s')) : requestAnimationFrame(check));
  check();
});`;

/**
 * Opens `url` `rounds` times (a fresh page each) and times:
 * - `fleetMs`: until the plan graph has a coloured box per milestone (`milestones`) and the unit counts are drawn;
 * - `actorsMs`: from a click on the Actors tab until the first page of the actor list is drawn;
 * - `milestoneMs`: from a click on the first milestone until its units are listed.
 * The first round includes the plan graph's ELK layout (the server caches it per plan shape).
 * @returns per round `{ fleetMs, actorsMs, milestoneMs, actorRows, graphNodes }`.
 */
export async function timeInspectorPage(url, milestones, rounds = 3) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const results = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      await page.addInitScript(DRAWN);
      await page.goto(url);
      // Measured inside the page (performance.now() counts from navigation start), so the
      // driver's own round trips are not counted.
      const fleetMs = await page.evaluate(
        (count) => drawn(() => document.querySelectorAll('#plan-graph g.pg-node[data-state]').length === count && document.querySelector('#fleet-counts .chip') !== null, 0),
        milestones,
      );
      const actorsMs = await page.evaluate(() => drawn(() => document.querySelectorAll('#actors tbody tr[data-actor-id]').length > 0, performance.now(), '#tab-actors'));
      const actorRows = await page.locator('#actors tbody tr[data-actor-id]').count();
      await page.click('#tab-fleet');
      await page.waitForSelector('#plan-graph g.pg-node[data-state]', { timeout: TIMEOUT_MS });
      const milestoneMs = await page.evaluate(() => drawn(() => document.querySelectorAll('#milestone-units tbody tr[data-unit-id]').length > 0, performance.now(), '#plan-graph g.pg-node'));
      results.push({ fleetMs, actorsMs, milestoneMs, actorRows, graphNodes: await page.locator('#plan-graph g.pg-node').count() });
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return results;
}
