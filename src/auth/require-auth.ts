import type { RequestHandler } from 'express';
import { bearerToken, type TokenService } from './jwt.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The authenticated user (the JWT's `sub`), set by requireAuth. */
    user?: string;
  }
}

/** What shared caches must never keep: an answer that carries or depends on a token. */
export const NO_STORE = 'no-store';

export function requireAuth(tokens: TokenService): RequestHandler {
  return async (req, res, next) => {
    // Before the check, so a 401 is not stored either.
    res.setHeader('Cache-Control', NO_STORE);
    req.user = (await tokens.verify(bearerToken(req.get('authorization')))).user;
    next();
  };
}
