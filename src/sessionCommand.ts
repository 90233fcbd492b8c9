/**
 * The argv of a turn: with a session to resume, `{sessionId}` in `command` is replaced by
 * it; without one, `initialCommand` when the unit has it, else `command` without the
 * placeholder's argument pair (`--resume {sessionId}` is dropped; a lone `{sessionId}` too).
 */
export function resolveSessionCommand(command: readonly string[], initialCommand: readonly string[] | null, session: string | null): readonly string[] {
  const placeholder = '{sessionId}';
  if (session !== null) return command.map((arg) => arg.split(placeholder).join(session));
  if (!command.some((arg) => arg.includes(placeholder))) return command;
  if (initialCommand !== null) return initialCommand;
  const kept: string[] = [];
  for (const arg of command) {
    if (arg.includes(placeholder)) {
      if (kept.at(-1)?.startsWith('-') === true) kept.pop();
      continue;
    }
    kept.push(arg);
  }
  return kept;
}
