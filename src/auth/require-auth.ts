import type { RequestHandler } from 'express';
import { bearerToken, type TokenService } from './jwt.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The authenticated user (the JWT's `sub`), set by requireAuth. */
    user?: string;
  }
}

export function requireAuth(tokens: TokenService): RequestHandler {
  return async (req, _res, next) => {
    req.user = (await tokens.verify(bearerToken(req.get('authorization')))).user;
    next();
  };
}
