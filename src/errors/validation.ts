import type { z } from 'zod';
import { AppError, type FieldProblem } from './app-error.js';

/**
 * Turns a failed zod parse into the project's 400: every failing field named, in the same
 * words over HTTP (`body.body must not be empty`) and Socket.IO (`room is required`).
 * `prefix` is where the value came from (`body`, `query`, ...); the empty path is the prefix
 * itself, or `payload` for a socket event.
 */
export function fieldProblems(error: z.ZodError, prefix?: string): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: [prefix, ...issue.path.map(String)].filter((part) => part !== undefined && part !== '').join('.') || 'payload',
    message: issue.message,
  }));
}

export function validationFailed(what: string, details: FieldProblem[]): AppError {
  return new AppError(400, 'VALIDATION_FAILED', `Invalid ${what}: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`, details);
}
