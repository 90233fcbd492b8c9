import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHARTED_MACHINE_NAMES, renderBuiltInChart } from '../src/chart/docsCharts.js';
import { CHART_CHOICES } from '../src/cli/optionParsers.js';
import type { CliIO } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';

let dir: string;

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-chart-')));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `statecrew chart …` in-process with captured output. */
async function chart(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: { write: (text) => void (stdout += text), isTTY: false },
    stderr: { write: (text) => void (stderr += text) },
    cwd: dir,
  };
  const code = await main(['node', 'statecrew', 'chart', ...args], io);
  return { code, stdout, stderr };
}

describe('statecrew chart', () => {
  it('prints the SVG of a machine to stdout by default', async () => {
    const result = await chart('worker');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(await renderBuiltInChart('worker', 'svg'));
    expect(result.stdout).toContain('<title>statecrew.worker</title>');
  });

  it('prints Mermaid text with --format mermaid', async () => {
    const result = await chart('supervisor', '--format', 'mermaid');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.startsWith('stateDiagram-v2\n  state "supervisor" as machine {\n')).toBe(true);
    expect(result.stdout).toContain('  machine --> s_fenced : FENCED\n');
  });

  it('writes --out relative to the working folder, creating its folder, and prints the path', async () => {
    const result = await chart('lease', '--out', 'charts/deep/lease.svg');
    const file = path.join(dir, 'charts', 'deep', 'lease.svg');
    expect(result).toEqual({ code: 0, stdout: `${file}\n`, stderr: '' });
    expect(fs.readFileSync(file, 'utf8')).toBe(await renderBuiltInChart('lease', 'svg'));
  });

  it('exits 1 with the reason when --out cannot be written', async () => {
    fs.writeFileSync(path.join(dir, 'taken'), 'a file, not a folder');
    const result = await chart('dispatch', '--out', 'taken/dispatch.svg');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^statecrew: cannot write .*taken\/dispatch\.svg: /);
  });

  it('rejects an unknown machine or format with exit code 2', async () => {
    const unknownMachine = await chart('scheduler');
    expect(unknownMachine.code).toBe(2);
    expect(unknownMachine.stderr).toContain('Allowed choices are worker, lease, dispatch, supervisor');
    const unknownFormat = await chart('worker', '--format', 'png');
    expect(unknownFormat.code).toBe(2);
    expect(unknownFormat.stderr).toContain('Allowed choices are svg, mermaid');
  });
});

describe('statecrew chart choices', () => {
  it('offers exactly the built-in charted machines, in their order (the CLI lists them without loading the machines)', () => {
    expect([...CHART_CHOICES]).toEqual(CHARTED_MACHINE_NAMES);
  });
});
