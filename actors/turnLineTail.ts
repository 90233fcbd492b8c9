/**
 * Keeps the last non-empty line of a byte stream (a turn's stderr) in bounded memory.
 * Loaded by the turn shim: Node built-ins only.
 */
import { StringDecoder } from 'node:string_decoder';

/** A running "last line" of a stream of chunks. */
export interface LineTail {
  /** Feeds the next chunk; a UTF-8 character split across chunks is decoded whole. */
  push(chunk: Buffer): void;
  /** The last non-empty line so far (trimmed), counting an unterminated last line; `null` when there was none. */
  last(): string | null;
}

/**
 * Creates a {@link LineTail} whose lines are bounded to `limitBytes` of UTF-8: a longer line
 * keeps its start, cut on a character boundary. Memory stays within about twice the bound
 * whatever the stream holds (a line without `\n` is cut as it grows).
 */
export function createLineTail(limitBytes: number): LineTail {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let lastLine: string | null = null;
  const bound = (text: string): string => {
    const bytes = Buffer.from(text, 'utf8');
    // StringDecoder.write holds back a trailing incomplete character, so a cut never splits one.
    return bytes.length <= limitBytes ? text : new StringDecoder('utf8').write(bytes.subarray(0, limitBytes));
  };
  const take = (text: string): void => {
    const line = text.trim();
    if (line !== '') lastLine = bound(line);
  };
  return {
    push(chunk) {
      const parts = decoder.write(chunk).split('\n');
      const rest = parts.pop() ?? '';
      for (const part of parts) {
        take(partial + part);
        partial = '';
      }
      partial = bound(partial + rest);
    },
    last() {
      take(partial + decoder.end());
      partial = '';
      return lastLine;
    },
  };
}
