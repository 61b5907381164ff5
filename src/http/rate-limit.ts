import type { Request, RequestHandler } from 'express';
import { AppError } from '../errors/app-error.js';
import type { RateLimiter } from '../redis/rate-limiter.js';

/**
 * An Express middleware over a cluster-wide RateLimiter (redis/rate-limiter.ts). Every
 * answer it lets through or refuses carries the IETF draft-6 headers
 * (draft-ietf-httpapi-ratelimit-headers-06, the version most clients and express-rate-limit
 * implement): `RateLimit-Policy: 60;w=60`, `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` (seconds). Over the limit: 429 RATE_LIMITED with `Retry-After`.
 * `keyOf` returning undefined exempts the request; so does Redis being down (fail open).
 */
export function rateLimit(limiter: RateLimiter, options: { keyOf: (req: Request) => string | undefined; what: string }): RequestHandler {
  return async (req, res, next) => {
    const key = options.keyOf(req);
    const decision = key === undefined ? undefined : await limiter.consume(key);
    if (!decision) {
      next();
      return;
    }
    res.setHeader('RateLimit-Policy', `${decision.limit};w=${decision.windowSeconds}`);
    res.setHeader('RateLimit-Limit', String(decision.limit));
    res.setHeader('RateLimit-Remaining', String(decision.remaining));
    res.setHeader('RateLimit-Reset', String(decision.resetSeconds));
    if (!decision.allowed) {
      res.setHeader('Retry-After', String(decision.resetSeconds));
      throw AppError.tooManyRequests(`Too many ${options.what}: at most ${decision.limit} per ${decision.windowSeconds} s; retry in ${decision.resetSeconds} s`);
    }
    next();
  };
}
