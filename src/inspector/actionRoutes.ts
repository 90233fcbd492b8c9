import { z } from 'zod';
import type { Store } from '../../persistence/store.js';
import { describeCommand, performAction, type ActionOutcome, type OperatorAction } from '../operatorActions.js';

const id = z.string().min(1).max(512);

/** The body of `POST /api/actions`, checked before anything is written. */
export const operatorActionBody: z.ZodType<OperatorAction> = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('stop-worker'), workerId: id }),
  z.strictObject({ action: z.literal('pause') }),
  z.strictObject({ action: z.literal('resume') }),
  z.strictObject({ action: z.literal('cancel-unit'), unitId: id }),
  z.strictObject({ action: z.literal('send-message'), target: id, text: z.string().min(1, 'a message needs text') }),
]);

/** An HTTP answer: status and JSON body. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Performs the action a page posted (`body`: its raw JSON), through the same store rows as the
 * CLI's control commands. Answers 200 with the outcome when recorded, 404 when the target does
 * not exist, 409 when refused otherwise, 400 (naming the field) when the body is not an action;
 * in every refusal nothing was written.
 */
export async function answerAction(store: Store, body: string): Promise<JsonAnswer> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    return { status: 400, body: { error: `the body is not JSON: ${(error as Error).message}` } };
  }
  const action = operatorActionBody.safeParse(parsed);
  if (!action.success) return { status: 400, body: { error: `not an action: ${z.prettifyError(action.error)}` } };
  const outcome: ActionOutcome = await performAction(store, action.data);
  const status = outcome.kind === 'accepted' ? 200 : outcome.reason === 'not-found' ? 404 : 409;
  return { status, body: { action: action.data.action, ...outcome } };
}

/** `GET /api/commands/:id`: a queued command's progress (queued, taken by a runtime, done with its outcome). */
export async function answerCommand(store: Store, idText: string): Promise<JsonAnswer> {
  const commandId = Number(idText);
  const command = Number.isSafeInteger(commandId) ? await store.getCommand(commandId) : undefined;
  if (command === undefined) return { status: 404, body: { error: `no command ${idText} in the store` } };
  return { status: 200, body: { id: command.id, kind: command.kind, target: command.target, ...describeCommand(command) } };
}
