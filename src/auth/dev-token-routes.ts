import { NO_STORE } from './require-auth.js';
import { Router } from 'express';
import { z } from 'zod';
import type { RouteContract, RoutesWithContract } from '../http/contract.js';
import { validate } from '../http/validate.js';
import type { TokenService } from './jwt.js';

const devTokenBody = z.object({
  user: z.string({ error: 'must be a string' }).regex(/^[\w.-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ . or -' }),
});

const devToken = z.object({ user: z.string(), token: z.string().meta({ description: 'A JWT (HS256) for `user`, valid 12 h' }) });

export const devTokenContract: RouteContract[] = [
  {
    method: 'post',
    path: '/api/dev/token',
    tag: 'development',
    summary: 'Development sign-in: a token for any name, no password (never mounted in production)',
    request: { body: devTokenBody },
    responses: { 200: { description: 'The token', schema: devToken } },
    errors: { 400: 'Invalid user name' },
  },
];

/**
 * Development sign-in for the live page: a token for any name, no password. Mounted only
 * outside production (config `http.devTokens`), so a production page asks for a real token.
 */
export function devTokenRoutes(tokens: TokenService): RoutesWithContract {
  const router = Router();
  router.post('/api/dev/token', async (req, res) => {
    const { user } = validate(devTokenBody, req.body ?? {}, 'body');
    const body: z.infer<typeof devToken> = { user, token: await tokens.sign(user) };
    res.setHeader('Cache-Control', NO_STORE);
    res.json(body);
  });
  return { router, contract: devTokenContract };
}
