/**
 * The real Claude Code CLI, installed from the npm registry as dev dependencies, in the
 * versions the tests drive: the current one (a native binary, `@anthropic-ai/claude-code`) and
 * two earlier ones (JavaScript, under npm aliases). Each runs offline against a local mock of
 * the Messages API (`ANTHROPIC_BASE_URL`), with `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`.
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** A Claude Code version under test and its executable. */
export interface ClaudeVersion {
  /** The version string `claude --version` prints first. */
  readonly version: string;
  /** Absolute path of the executable (`#!/usr/bin/env node` script or native binary). */
  readonly executable: string;
  /**
   * What its `result.total_cost_usd` covers on a resumed session, as observed by running it
   * against the mock: `process` (the CLI process's own spend) or `session` (a running total).
   */
  readonly costReports: 'process' | 'session';
}

const require = createRequire(import.meta.url);
const packageDir = (name: string): string => path.dirname(require.resolve(`${name}/package.json`));

/** The versions, oldest first. */
export const CLAUDE_VERSIONS: readonly ClaudeVersion[] = [
  { version: '1.0.128', executable: path.join(packageDir('claude-code-1.0'), 'cli.js'), costReports: 'process' },
  { version: '2.1.100', executable: path.join(packageDir('claude-code-2.1.100'), 'cli.js'), costReports: 'process' },
  { version: '2.1.332', executable: path.join(packageDir('@anthropic-ai/claude-code'), 'bin', 'claude.exe'), costReports: 'session' },
];

/** The current version. */
export const CURRENT_CLAUDE: ClaudeVersion = CLAUDE_VERSIONS[CLAUDE_VERSIONS.length - 1] as ClaudeVersion;

/**
 * A `bin` folder under `dir` whose `claude` is `version`'s executable, and the environment a
 * unit needs to run it against `apiUrl` as a user would: `claude` on `PATH`, an API key (or,
 * with `subscription`, an OAuth token as a Claude subscription login gives), a `HOME` of its
 * own (where the CLI keeps its sessions), no non-essential traffic.
 * @throws Error when the version's executable is missing (run `npm ci`).
 */
export function claudeEnv(dir: string, version: ClaudeVersion, apiUrl: string, auth: 'api-key' | 'subscription' = 'api-key'): Record<string, string> {
  if (!existsSync(version.executable)) throw new Error(`Claude Code ${version.version} is not installed at ${version.executable}: run npm ci`);
  const bin = path.join(dir, `bin-${version.version}`);
  const home = path.join(dir, 'home');
  mkdirSync(home, { recursive: true });
  if (!existsSync(bin)) {
    mkdirSync(bin, { recursive: true });
    symlinkSync(version.executable, path.join(bin, 'claude'));
  }
  return {
    PATH: `${bin}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}`,
    HOME: home,
    ANTHROPIC_BASE_URL: apiUrl,
    // A subscription (OAuth) login is what makes the CLI report rate_limit_event with resetsAt.
    ...(auth === 'api-key' ? { ANTHROPIC_API_KEY: 'sk-ant-test-offline' } : { CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat01-test-offline' }),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
}
