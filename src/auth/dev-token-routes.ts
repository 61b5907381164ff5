import { Router } from 'express';
import { z } from 'zod';
import { validate } from '../http/validate.js';
import type { TokenService } from './jwt.js';

const devTokenBody = z.object({
  user: z.string({ error: 'must be a string' }).regex(/^[\w.-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ . or -' }),
});

/**
 * Development sign-in for the live page: a token for any name, no password. Mounted only
 * outside production (config `http.devTokens`), so a production page asks for a real token.
 */
export function devTokenRoutes(tokens: TokenService): Router {
  const router = Router();
  router.post('/api/dev/token', async (req, res) => {
    const { user } = validate(devTokenBody, req.body ?? {}, 'body');
    res.json({ user, token: await tokens.sign(user) });
  });
  return router;
}
