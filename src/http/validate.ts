import type { z } from 'zod';
import { fieldProblems, validationFailed } from '../errors/validation.js';

/** Validates one part of a request; a failure is a 400 that names every failing field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, part: 'body' | 'query' | 'params'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationFailed('request', fieldProblems(result.error, part));
}
