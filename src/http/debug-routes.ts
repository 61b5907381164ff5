import { Router } from 'express';
import { z } from 'zod';
import { validate } from './validate.js';

/**
 * Routes that let tests and operators reproduce real failure modes: a slow request (graceful
 * reload mid-request), a programmer error (a 500 that hides its message in production) and a
 * crash (PM2 restarts the instance, the others keep serving).
 * Mounted only when DEBUG_ROUTES is on, which it is not in production by default.
 */
export function debugRoutes(): Router {
  const router = Router();
  const delayQuery = z.object({ ms: z.coerce.number().int().min(0).max(30_000).default(1000) });

  router.get('/api/debug/delay', async (req, res) => {
    const { ms } = validate(delayQuery, req.query, 'query');
    await new Promise((resolve) => setTimeout(resolve, ms));
    res.json({ delayedMs: ms, worker: process.pid });
  });

  router.get('/api/debug/error', () => {
    throw new Error('Internal detail that must not reach a production client');
  });

  router.post('/api/debug/crash', (_req, res) => {
    res.status(202).json({ crashing: process.pid });
    // Thrown outside any request handler, so it is a real uncaught exception.
    setImmediate(() => {
      throw new Error('Crash requested through /api/debug/crash');
    });
  });
  return router;
}
