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
  outage: z
    .enum(['shared', 'alone'])
    .optional()
    .meta({ description: 'On a failing check of an instance that has served: `alone` (another instance reaches the dependency: not ready) or `shared` (none seen to: still ready)' }),
});

export const readinessBody = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable', 'shutting_down']).meta({
    description: '`degraded` (200): a dependency every instance lost does not answer; what works without it is served',
  }),
  instanceId: z.number().int(),
  checks: z.record(z.string(), checkResult).meta({ description: 'One entry per dependency: `database`, `redis`' }),
});

export const statusBody = z.object({
  message: z.string(),
  version: z.string(),
  environment: z.enum(['development', 'production', 'test']),
  worker: z.number().int().meta({ description: 'The process id' }),
});
