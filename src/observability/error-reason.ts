import { inspect } from 'node:util';

/**
 * An error's message and those of its causes, without stacks: "Cannot open a database
 * connection: connect ECONNREFUSED 127.0.0.1:5433". For the lines that report a state (a
 * dependency down, a check deferred), where a stack says where the code awaited, never why.
 */
export function errorReason(error: unknown): string {
  let reason = '';
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth += 1) {
    const { message, code, cause } = current as { message?: unknown; code?: unknown; cause?: unknown };
    const text = typeof message === 'string' && message !== '' ? message : typeof code === 'string' ? code : current instanceof Error ? current.name : inspect(current, { depth: 0, breakLength: Infinity });
    // A wrapper often repeats its cause's message in its own.
    if (!reason.includes(text)) reason = reason === '' ? text : `${reason}: ${text}`;
    current = cause;
  }
  return reason;
}
