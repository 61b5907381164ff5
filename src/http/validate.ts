import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';

/** Validates one part of a request; a failure is a 400 that names every failing field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, part: 'body' | 'query' | 'params'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({
    field: [part, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  const message = `Invalid request: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`;
  throw new AppError(400, 'VALIDATION_FAILED', message, details);
}
