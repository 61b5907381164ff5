import type { RequestHandler } from 'express';
import type { TokenService } from '../auth/jwt.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The authenticated user (the JWT's `sub`), set by requireAuth. */
    user?: string;
  }
}

export function requireAuth(tokens: TokenService): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization');
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    req.user = await tokens.verify(token);
    next();
  };
}
