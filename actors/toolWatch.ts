/**
 * Follows a stream-json turn's stdout file while the turn runs, to tell the stall watchdog
 * whether the agent is waiting on a tool: a `tool_use` block with no `tool_result` yet. A
 * Claude Code agent running a long Bash command prints nothing until the command ends, so
 * its silence then is not a stall (see `UnitSpec.toolTimeoutMs`).
 * @internal used by `actors/turnSupervisor.ts`
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createStreamJsonParser } from './streamJson.js';
import { errnoOf } from './turnStatus.js';

/** Bytes read from the stdout file per look, at most. */
const READ_CHUNK_BYTES = 1 << 20;

export interface ToolWatch {
  /**
   * Reads what the file gained since the last look and returns how many tool uses are open.
   * A file that does not exist yet reads as empty.
   * @throws the file-system error of the read, other than ENOENT.
   */
  openToolUses(): number;
}

/**
 * Starts following `stdoutPath` from its beginning, an event stream of `dialect` (Claude Code's
 * `tool_use` blocks; Codex's `command_execution` and other tool items). Memory: the parser keeps
 * counts and the open tool use ids only.
 */
export function watchToolUses(stdoutPath: string, dialect: 'claude' | 'codex' = 'claude'): ToolWatch {
  const parser = createStreamJsonParser({ dialect });
  let offset = 0;
  const buffer = Buffer.alloc(READ_CHUNK_BYTES);
  return {
    openToolUses() {
      let fd: number;
      try {
        fd = openSync(stdoutPath, 'r');
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return 0;
        throw error;
      }
      try {
        for (;;) {
          const read = readSync(fd, buffer, 0, buffer.length, offset);
          if (read === 0) break;
          offset += read;
          parser.push(buffer.subarray(0, read));
        }
      } finally {
        closeSync(fd);
      }
      return parser.summary().openToolUses;
    },
  };
}
