/**
 * The argv of a turn: with a session to resume, `{sessionId}` in `command` is replaced by
 * it; without one, `initialCommand` when the unit has it, else `command` without the
 * placeholder's argument pair: the placeholder and the argument before it when that is a flag
 * or the `resume` subcommand (Claude Code's `--resume {sessionId}`, Codex's
 * `exec resume {sessionId}`); a lone `{sessionId}` is dropped alone.
 */
export function resolveSessionCommand(command: readonly string[], initialCommand: readonly string[] | null, session: string | null): readonly string[] {
  const placeholder = '{sessionId}';
  if (session !== null) return command.map((arg) => arg.split(placeholder).join(session));
  if (!command.some((arg) => arg.includes(placeholder))) return command;
  if (initialCommand !== null) return initialCommand;
  const kept: string[] = [];
  for (const arg of command) {
    if (arg.includes(placeholder)) {
      const before = kept.at(-1);
      if (before !== undefined && (before.startsWith('-') || before === 'resume')) kept.pop();
      continue;
    }
    kept.push(arg);
  }
  return kept;
}
