import type { z } from 'zod';
import type { fieldProblemSchema } from './error-body.js';

export type FieldProblem = z.infer<typeof fieldProblemSchema>;

/**
 * The one error type of the project: operational failures (bad input, a dependency down)
 * are thrown as AppError by whichever layer detects them; the HTTP error middleware converts
 * anything else to one before answering (see http/error-handler.ts).
 */
export class AppError extends Error {
  override name = 'AppError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: FieldProblem[],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  get isServerError(): boolean {
    return this.status >= 500;
  }

  static notFound(message: string): AppError {
    return new AppError(404, 'NOT_FOUND', message);
  }

  static unauthorized(message: string): AppError {
    return new AppError(401, 'UNAUTHORIZED', message);
  }

  static tooManyRequests(message: string): AppError {
    return new AppError(429, 'RATE_LIMITED', message);
  }

  static unavailable(code: string, message: string, cause?: unknown): AppError {
    return new AppError(503, code, message, undefined, { cause });
  }
}
