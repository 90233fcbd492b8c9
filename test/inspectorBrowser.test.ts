import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import { fixture, isAlive, killRunningClis, makeTempDir, runCli, startCli, writePlan } from './helpers/cli.js';

/**
 * The inspector in a real browser: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), against `statecrew run --inspect` running a fixture plan in another
 * process. Screenshots go to `test-artifacts/` (not committed).
 */

const CHROMIUM = process.env.STATECREW_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
const UI_TIMEOUT_MS = 20_000;

let browser: Browser;
let dir: string;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser.close();
});

beforeEach(() => {
  dir = makeTempDir();
});

afterEach(async () => {
  await killRunningClis();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Waits until `selector` matches in the page (Playwright polls the DOM; no fixed sleeps). */
async function shows(page: Page, selector: string): Promise<void> {
  await page.waitForSelector(selector, { state: 'attached', timeout: UI_TIMEOUT_MS });
}

/** Values of `attribute` of every element matching `selector`, in document order. */
async function attributes(page: Page, selector: string, attribute: string): Promise<(string | null)[]> {
  return Promise.all((await page.locator(selector).all()).map((element) => element.getAttribute(attribute)));
}

const activeStates = (page: Page) => attributes(page, '#chart g.sc-state.sc-active', 'data-path');

describe('statecrew run --inspect, in Chromium', () => {
  it('lists the actors, highlights states, follows the run live, travels back in time, and refuses requests without the token', async () => {
    const node = process.execPath;
    const unit = (id: string, go: string) => ({ id, command: [node, fixture('exit-when-file.mjs'), path.join(dir, go), '0'] });
    writePlan(dir, { version: 1, workers: 1, milestones: [{ id: 'm', units: [unit('u1', 'go1'), unit('u2', 'go2')] }] });
    const run = startCli(dir, ['run', 'plan.yaml', '--inspect']);
    const [, url = ''] = await run.waitForLine(/statecrew inspector: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/);
    const origin = new URL(url).origin;

    // Without the token: 401, for the page and for the API alike.
    expect((await fetch(`${origin}/`)).status).toBe(401);
    expect((await fetch(`${origin}/api/actors`)).status).toBe(401);

    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(url);
    await page.click('#tab-actors');

    // Actors: every kind listed with its state; the worker runs u1's turn.
    await shows(page, '#actors tr[data-actor-id^="worker-"] td.state:text-is("in_turn")');
    await shows(page, '#actors tr[data-actor-id="u1#1"] td.state:text-is("running")');
    const kinds = [...new Set(await page.locator('#actors tbody tr td.kind').allTextContents())].sort();
    expect(kinds).toEqual(['dispatch', 'lease', 'supervisor', 'worker']);
    const leaseState = await page.textContent('#actors tr[data-actor-id^="m@lease-"] td.state');
    expect(leaseState).toBe('held');

    // Filter by kind: only workers remain, with the count in the option.
    await page.selectOption('#filter-kind', 'worker');
    expect(await page.locator('#actors tbody tr td.kind').allTextContents()).toEqual(['worker']);
    expect(await page.textContent('#filter-kind option[value="worker"]')).toBe('worker (1)');

    // The selected worker's statechart highlights its current state.
    await page.click('#actors tr[data-actor-id^="worker-"]');
    await shows(page, '#chart g.sc-state.sc-active[data-path="in_turn"]');
    expect(await activeStates(page)).toEqual(['in_turn']);
    await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-worker.png') });

    // Select u1's dispatch: running. Then let the turn finish: the page follows without reloading.
    await page.selectOption('#filter-kind', 'dispatch');
    await page.click('#actors tr[data-actor-id="u1#1"]');
    await shows(page, '#chart g.sc-state.sc-active[data-path="running"]');
    await page.evaluate('window.notReloaded = true');
    fs.writeFileSync(path.join(dir, 'go1'), '');
    await shows(page, '#chart g.sc-state.sc-active[data-path="completed"]');
    await shows(page, '#actors tr[data-actor-id="u1#1"] td.state:text-is("completed (done)")');
    await shows(page, '#actors tr[data-actor-id="u2#1"]');
    expect(await page.evaluate('window.notReloaded')).toBe(true);

    // Time travel: the dispatch's first transition shows it pending in backoff, and the
    // context and event of that moment.
    await page.click('#timeline li[data-seq="1"]');
    await shows(page, '#mode.past');
    expect(await activeStates(page)).toEqual(['pending', 'pending.backoff']);
    expect(await page.textContent('#event')).toContain('"type": "xstate.init"');
    expect(JSON.parse((await page.textContent('#context')) ?? 'null')).toMatchObject({ unitId: 'u1', workerId: null });
    await page.click('#timeline li:has-text("→ running")');
    await shows(page, '#chart g.sc-state.sc-active[data-path="running"]');
    await shows(page, '#chart g.sc-edge.sc-taken[data-event="START"]');
    await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-time-travel.png') });
    await page.click('#back-to-live');
    await shows(page, '#chart g.sc-state.sc-active[data-path="completed"]');

    // Everything the page loaded came from the inspector itself.
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((address) => !address.startsWith(`${origin}/`))).toEqual([]);
    expect(pageErrors).toEqual([]);

    fs.writeFileSync(path.join(dir, 'go2'), '');
    const result = await run.done;
    expect(result.code).toBe(0);
    await page.close();
  });

  it('shows each unit\'s attempts, turns, cost, agent session and resume mismatches', async () => {
    const agent = [process.execPath, fixture('fake-claude.mjs'), '--mode', 'mismatch', '--resume', '{sessionId}'];
    writePlan(dir, {
      version: 1,
      workers: 1,
      defaults: { protocol: 'stream-json', retryBackoff: '10ms', maxAttempts: 2 },
      milestones: [{ id: 'm', units: [{ id: 'agent', command: agent, input: 'fix it' }, { id: 'plain', command: [process.execPath, '-e', ''], protocol: 'text' }] }],
    });
    expect((await runCli(dir, 'run', 'plan.yaml')).code).toBe(0);
    const inspect = startCli(dir, ['inspect', '--store', '.statecrew/statecrew.db']);
    const [, url = ''] = await inspect.waitForLine(/statecrew inspector: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/);
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(url);
    await page.click('#tab-actors');
    await shows(page, '#units tr[data-unit-id="agent"] td.state:text-is("completed")');
    // The retry resumed the first attempt's session and got another one: a resume mismatch.
    expect(await page.textContent('#units tr[data-unit-id="agent"] td.attempts')).toBe('2/2');
    expect(await page.textContent('#units tr[data-unit-id="agent"] td.cost')).toBe('$0.0250');
    const session = (await page.getAttribute('#units tr[data-unit-id="agent"] td.session', 'title')) ?? '';
    expect(session).toMatch(/^session-/);
    expect(await page.textContent('#units tr[data-unit-id="agent"] td.session')).toBe(`…${session.slice(-8)}⚠ 1 resume mismatch`);
    expect(await page.textContent('#units tr[data-unit-id="plain"] td.session')).toBe('');
    await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-units.png') });
    await page.close();
  });

  it('stops a real worker of a run in another process with a click, shows the outcome, and refuses a forged request from another origin', async () => {
    const node = process.execPath;
    const go = path.join(dir, 'go');
    writePlan(dir, { version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'u1', command: [node, fixture('exit-when-file.mjs'), go, '0'] }] }] });
    const run = startCli(dir, ['run', 'plan.yaml']);
    const [, pid = ''] = await run.waitForLine(/start +u1 attempt 1 on worker-1 \(pid (\d+)\)/);
    const inspect = startCli(dir, ['inspect', '--store', '.statecrew/statecrew.db']);
    const [, url = ''] = await inspect.waitForLine(/statecrew inspector: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/);
    const origin = new URL(url).origin;
    const token = new URL(url).searchParams.get('token') ?? '';

    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(url);
    await page.click('#tab-actors');
    await shows(page, '#fleet-actions:not([hidden])');

    // A page of another origin that even knows the access token and a CSRF token of the real page
    // posts a pause: the Origin check refuses it and nothing is written. (A JSON post from there
    // would not leave the browser at all: its CORS preflight is refused.)
    const csrf = (await page.getAttribute('meta[name="statecrew-csrf"]', 'content')) ?? '';
    const attacker = http.createServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html' });
      response.end('<!doctype html><title>elsewhere</title>');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    const evil = await browser.newPage();
    await evil.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
    // no-cors: the browser sends it (dropping the custom header) and hides the answer.
    const sent = await evil.evaluate(
      async ({ target, csrfToken }) => {
        await fetch(target, { method: 'POST', mode: 'no-cors', headers: { 'x-statecrew-csrf': csrfToken }, body: '{"action":"pause"}' });
        return true;
      },
      { target: `${origin}/api/actions?token=${token}`, csrfToken: csrf },
    );
    await evil.close();
    await new Promise<void>((resolve) => attacker.close(() => resolve()));
    expect(sent).toBe(true);
    // And from the page itself, a request without the CSRF token is refused.
    const withoutCsrf = await page.evaluate(async () => (await fetch('/api/actions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"action":"pause"}' })).status);
    expect(withoutCsrf).toBe(403);
    const store = openStoreAt(path.join(dir, '.statecrew/statecrew.db'), { readonly: true });
    expect(await store.getControl('paused')).toBeUndefined();
    expect(await store.listPendingCommands()).toEqual([]);
    await store.close();

    // The click: the worker's turn is killed and verified gone by the runtime in the other process.
    await page.click('#actors tr[data-actor-id="worker-1"]');
    await page.click('#actor-actions button:text-is("Stop worker")');
    await shows(page, '#action-log li[data-action="stop-worker"].done');
    expect(await page.textContent('#action-log li[data-action="stop-worker"] .outcome')).toBe(
      'worker worker-1 stopped: the turn of u1 was killed and verified gone; u1 is pending again, without using an attempt',
    );
    expect(isAlive(Number(pid))).toBe(false);
    await shows(page, '#actors tr[data-actor-id="worker-1"] td.state:text-is("stopped (done)")');
    await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-actions.png') });

    // The run goes on with a new worker, and finishes once the unit may.
    await run.waitForLine(/start +u1 attempt 1 on worker-2/);
    fs.writeFileSync(go, '');
    expect((await run.done).code).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('serves a read-only page without actions when asked (inspect --read-only)', async () => {
    writePlan(dir, { version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'u1', command: [process.execPath, '-e', ''] }] }] });
    expect((await runCli(dir, 'run', 'plan.yaml')).code).toBe(0);
    const inspect = startCli(dir, ['inspect', '--store', '.statecrew/statecrew.db', '--read-only']);
    const [, url = ''] = await inspect.waitForLine(/statecrew inspector: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+) \(read-only\)/);
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(url);
    await page.click('#tab-actors');
    await shows(page, '#actors tr[data-actor-id="worker-1"]');
    expect(await page.isVisible('#read-only')).toBe(true);
    expect(await page.isVisible('#fleet-actions')).toBe(false);
    await page.click('#actors tr[data-actor-id="worker-1"]');
    await shows(page, '#chart g.sc-state.sc-active');
    expect(await page.locator('#actor-actions button').count()).toBe(0);
    await page.close();
  });

  it('draws the plan as a graph coloured by state, counts units, shows runtimes, and opens a unit with its live log and its conversation', async () => {
    const node = process.execPath;
    const go = path.join(dir, 'go');
    const cat = (file: string) => [node, '-e', `process.stdout.write(require('fs').readFileSync(${JSON.stringify(fixture(`recorded/${file}`))}))`];
    writePlan(dir, {
      version: 1,
      workers: 2,
      milestones: [
        {
          id: 'setup',
          units: [
            { id: 'setup/agent', command: cat('claude-2.1.332-write-denied.jsonl'), protocol: 'stream-json', permissionDenials: 'accept' },
            { id: 'setup/codex', command: cat('codex-0.171.0-command.jsonl'), protocol: 'codex-json' },
          ],
        },
        { id: 'build', dependsOn: ['setup'], units: [{ id: 'build/wait', command: [node, fixture('exit-when-file.mjs'), go, '0'] }] },
        { id: 'lint', dependsOn: ['setup'], units: [{ id: 'lint/fail', command: [node, '-e', 'process.exit(3)'], maxAttempts: 1 }] },
        { id: 'ship', dependsOn: ['build', 'lint'], units: [{ id: 'ship/u', command: [node, '-e', ''] }] },
      ],
    });
    const run = startCli(dir, ['run', 'plan.yaml', '--inspect']);
    const [, url = ''] = await run.waitForLine(/statecrew inspector: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/);
    await run.waitForLine(/start +build\/wait attempt 1/);
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(url);

    // The graph: one box per milestone, one edge per dependsOn, each box coloured by its state.
    await shows(page, '#plan-graph g.pg-node[data-milestone-id="lint"][data-state="failed"]');
    await shows(page, '#plan-graph g.pg-node[data-milestone-id="ship"][data-state="blocked"]');
    const states = Object.fromEntries(
      await Promise.all((await page.locator('#plan-graph g.pg-node').all()).map(async (g) => [await g.getAttribute('data-milestone-id'), await g.getAttribute('data-state')])),
    );
    expect(states).toEqual({ setup: 'completed', build: 'running', lint: 'failed', ship: 'blocked' });
    const edges = await Promise.all((await page.locator('#plan-graph g.pg-edge').all()).map(async (g) => `${await g.getAttribute('data-source')}->${await g.getAttribute('data-target')}`));
    expect(edges.sort()).toEqual(['build->ship', 'lint->ship', 'setup->build', 'setup->lint']);
    expect(await page.textContent('#plan-graph g.pg-node[data-milestone-id="setup"] text:nth-of-type(2)')).toBe('2/2 · $0.0096');
    // Units by state, and the runtime with its heartbeat.
    expect(await page.textContent('#fleet-counts .count-running b')).toBe('1');
    expect(await page.textContent('#fleet-counts .count-failed b')).toBe('1');
    expect(await page.textContent('#fleet-counts .count-blocked b')).toBe('1');
    expect(await page.textContent('#fleet-counts .count-completed b')).toBe('2');
    expect(await page.textContent('#runtimes tr[data-runtime-id="runtime-1"] td.state')).toBe('running');
    expect(await page.textContent('#runtimes tr[data-runtime-id="runtime-1"] td.heartbeat')).toMatch(/^\d+(\.\d)? m?s$/);

    // A unit's page: its turn, and its log followed while the turn runs.
    await page.click('#plan-graph g.pg-node[data-milestone-id="build"]');
    await page.click('#milestone-units tr[data-unit-id="build/wait"]');
    await shows(page, '#turns tr[data-dispatch-id="build/wait#1"] td.state:text-is("running")');
    await shows(page, '#log-title:text-is("Log of build/wait#1 (live)")');
    await shows(page, '#turn-log:has-text("waiting")');
    await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-fleet.png') });

    // A Claude Code turn as a conversation: the denied Write, its error result, the final result with cost.
    await page.click('#plan-graph g.pg-node[data-milestone-id="setup"]');
    await page.click('#milestone-units tr[data-unit-id="setup/agent"]');
    await shows(page, '#conversation li[data-kind="result"]');
    expect(await page.textContent('#conversation li[data-kind="tool-use"] .tool')).toBe('Write');
    expect(await page.getAttribute('#conversation li[data-kind="tool-result"]', 'class')).toContain('is-error');
    expect(await page.textContent('#conversation li[data-kind="result"] .figures')).toMatch(/^\$0\.0096 · \d+ in \/ \d+ out tokens/);
    expect(await page.locator('#conversation li[data-kind="assistant"]').count()).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'inspector-conversation.png') });
    // A Codex turn: its command as a tool use with its output, and the agent's message.
    await page.click('#milestone-units tr[data-unit-id="setup/codex"]');
    await shows(page, '#conversation li[data-kind="tool-use"] .tool:text-is("command")');
    expect(await page.textContent('#conversation li[data-kind="tool-result"] pre')).toBe('slept\n\n(exit code 0)');
    expect(await page.textContent('#conversation li[data-kind="assistant"]')).toBe('done');

    // The unit page's actions: a message queued for build/wait reaches the store.
    await page.click('#plan-graph g.pg-node[data-milestone-id="build"]');
    await page.click('#milestone-units tr[data-unit-id="build/wait"]');
    await page.fill('#unit-actions input', 'also run the linter');
    await page.click('#unit-actions button:text-is("Send")');
    await shows(page, '#action-log li[data-action="send-message"].done');

    // (The run ends, and its inspector with it, once build completes: lint failed, ship is blocked.)
    fs.writeFileSync(go, '');
    expect((await run.done).code).toBe(1);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
