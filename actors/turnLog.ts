/**
 * The runner's side of a turn's log file: its own `# …` lines (header, notes, footer),
 * appended beside the output the turn shim appends to the same file. Both open the file
 * with O_APPEND, so every write lands whole at the end of the file whoever wrote last.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** An open turn log. Writes are synchronous: a line is in the file when the call returns. */
export interface TurnLog {
  readonly path: string;
  /** The file descriptor (O_APPEND), e.g. to hand to the shim as its stderr; `-1` once closed. */
  readonly fd: number;
  /**
   * Appends `# <text>\n`, on a line of its own (after a `\n` when the turn's output did not end
   * with one); does nothing once closed. A read or write error goes to the `onError` given at open.
   */
  note(text: string): void;
  /** Size of the file now, in bytes, whoever wrote it. @throws the fstat error */
  size(): number;
  /** Last modification time of the file, in ms since the epoch (file-system clock). @throws the fstat error */
  modifiedAt(): number;
  /** Bytes appended through {@link TurnLog.note}, so they are not taken for the turn's output. */
  ownBytes(): number;
  /** Closes the file; later notes are dropped. Idempotent. */
  close(): void;
}

/**
 * Opens (creating it and its parent directories) the log at the absolute `path` for appending.
 * @param onError receives the error of a failed write (ENOSPC, EIO); the line is lost then.
 * @throws the file-system error when the directory or the file cannot be created or opened.
 */
export function openTurnLog(path: string, onError: (error: Error) => void): TurnLog {
  mkdirSync(dirname(path), { recursive: true });
  // Read as well as append: a note looks at the last byte to start on a line of its own.
  let fd = openSync(path, 'a+');
  let written = 0;
  return {
    path,
    get fd() {
      return fd;
    },
    note(text) {
      if (fd < 0) return;
      try {
        const bytes = Buffer.from(`${endsMidLine(fd) ? '\n' : ''}# ${text}\n`, 'utf8');
        for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
        written += bytes.length;
      } catch (error) {
        onError(error instanceof Error ? error : new Error(String(error)));
      }
    },
    size() {
      return fstatSync(fd).size;
    },
    modifiedAt() {
      return fstatSync(fd).mtimeMs;
    },
    ownBytes: () => written,
    close() {
      if (fd < 0) return;
      const open = fd;
      fd = -1;
      closeSync(open);
    },
  };
}

/** True when the file's last byte is not a `\n` (an empty file starts a line). */
function endsMidLine(fd: number): boolean {
  const { size } = fstatSync(fd);
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  return readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
}
