import { Router } from 'express';
import { z } from 'zod';
import type { RouteContract, RoutesWithContract } from './contract.js';
import { validate } from './validate.js';

const delayQuery = z.object({ ms: z.coerce.number().int().min(0).max(30_000).default(1000).meta({ description: 'How long to wait, 0-30000 ms (default 1000)' }) });
const delayed = z.object({ delayedMs: z.number().int(), worker: z.number().int() });
const crashing = z.object({ crashing: z.number().int().meta({ description: 'The pid that is about to crash' }) });

export const debugContract: RouteContract[] = [
  {
    method: 'get',
    path: '/api/debug/delay',
    tag: 'debug',
    summary: 'A slow request (e.g. to watch a graceful reload finish it)',
    request: { query: delayQuery },
    responses: { 200: { description: 'Answered after the delay', schema: delayed } },
    errors: { 400: 'ms out of range' },
  },
  {
    method: 'get',
    path: '/api/debug/error',
    tag: 'debug',
    summary: 'A programmer error: a 500 whose message is hidden in production',
    responses: {},
    errors: { 500: 'Always (`INTERNAL_ERROR`)' },
  },
  {
    method: 'post',
    path: '/api/debug/crash',
    tag: 'debug',
    summary: 'An uncaught exception after the answer: the instance shuts down and PM2 restarts it',
    responses: { 202: { description: 'About to crash', schema: crashing } },
  },
];

/**
 * Routes that let tests and operators reproduce real failure modes: a slow request (graceful
 * reload mid-request), a programmer error (a 500 that hides its message in production) and a
 * crash (PM2 restarts the instance, the others keep serving).
 * Mounted only when DEBUG_ROUTES is on, which it is not in production by default.
 */
export function debugRoutes(): RoutesWithContract {
  const router = Router();

  router.get('/api/debug/delay', async (req, res) => {
    const { ms } = validate(delayQuery, req.query, 'query');
    await new Promise((resolve) => setTimeout(resolve, ms));
    const body: z.infer<typeof delayed> = { delayedMs: ms, worker: process.pid };
    res.json(body);
  });

  router.get('/api/debug/error', () => {
    throw new Error('Internal detail that must not reach a production client');
  });

  router.post('/api/debug/crash', (_req, res) => {
    const body: z.infer<typeof crashing> = { crashing: process.pid };
    res.status(202).json(body);
    // Thrown outside any request handler, so it is a real uncaught exception.
    setImmediate(() => {
      throw new Error('Crash requested through /api/debug/crash');
    });
  });
  return { router, contract: debugContract };
}
