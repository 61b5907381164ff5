import { z } from 'zod';

/**
 * The one error shape every client sees: an HTTP error body's `error`, and a refused Socket.IO
 * event's acknowledgement. The answers are typed by these schemas and /openapi.json is built
 * from them, so the document and the answers cannot drift apart.
 */

export const fieldProblemSchema = z.object({
  field: z.string().meta({ description: 'Where the value came from and its path, e.g. `body.body`, `query.after`, `room`' }),
  message: z.string(),
});

export const errorDetailSchema = z.object({
  code: z.string().meta({ description: 'Stable and machine-readable, e.g. `VALIDATION_FAILED`, `NOT_FOUND` (docs/api.md)' }),
  message: z.string().meta({ description: 'For people; generic for 5xx in production' }),
  details: z.array(fieldProblemSchema).optional().meta({ description: 'On validation errors: every failing field' }),
});

export const errorBodySchema = z.object({
  error: errorDetailSchema.extend({ requestId: z.string().meta({ description: 'The `X-Request-Id` of the request, in every log line of it' }) }),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;
