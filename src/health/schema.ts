import { z } from 'zod';

/** What the health routes answer; the handlers are typed by these and /openapi.json is built from them. */

export const healthBody = z.object({
  status: z.literal('ok'),
  timestamp: z.iso.datetime(),
  uptime: z.number().meta({ description: 'Seconds since the process started' }),
  worker: z.number().int().meta({ description: 'The process id' }),
  instanceId: z.number().int(),
});

const checkResult = z.object({
  status: z.enum(['ok', 'error']),
  latencyMs: z.number().int().min(0),
  error: z.string().optional().meta({ description: 'Why the check failed; in production only `unavailable` or `no answer within <READY_TIMEOUT_MS>ms`' }),
});

export const readinessBody = z.object({
  status: z.enum(['ok', 'unavailable', 'shutting_down']),
  instanceId: z.number().int(),
  checks: z.record(z.string(), checkResult).meta({ description: 'One entry per dependency: `database`, `redis`' }),
});

export const statusBody = z.object({
  message: z.string(),
  version: z.string(),
  environment: z.enum(['development', 'production', 'test']),
  worker: z.number().int().meta({ description: 'The process id' }),
});
