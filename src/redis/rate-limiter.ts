import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../observability/logger.js';
import { rateLimitedWarn } from '../observability/rate-limited-log.js';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
  windowSeconds: number;
}

export interface RateLimiter {
  readonly limit: number;
  readonly windowSeconds: number;
  /** Counts one use of `key`; undefined when Redis could not be asked (the caller serves: fail open). */
  consume(key: string): Promise<RateDecision | undefined>;
}

/**
 * A limit shared by every instance: `limit` uses per key per window, counted in Redis
 * (rate-limiter-flexible's fixed window: one atomic INCR + EXPIRE per use) on the process's
 * command connection, under `keyPrefix`. While Redis is down it answers at once (it does not
 * queue behind ioredis' retries) with "unknown", and the caller serves: a limit must not
 * turn a Redis outage into an API outage. That is logged, at most every 30 s.
 */
export function createRateLimiter(options: { redis: Redis; keyPrefix: string; limit: number; windowSeconds: number; logger: Logger }): RateLimiter {
  const limiter = new RateLimiterRedis({
    storeClient: options.redis,
    keyPrefix: options.keyPrefix,
    points: options.limit,
    duration: options.windowSeconds,
    rejectIfRedisNotReady: true,
  });
  const warn = rateLimitedWarn(options.logger);
  const decision = (res: RateLimiterRes, allowed: boolean): RateDecision => ({
    allowed,
    limit: options.limit,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
    windowSeconds: options.windowSeconds,
  });
  return {
    limit: options.limit,
    windowSeconds: options.windowSeconds,
    async consume(key) {
      try {
        return decision(await limiter.consume(key), true);
      } catch (error) {
        if (error instanceof RateLimiterRes) return decision(error, false);
        warn({ event: 'rate-limit-unavailable', limiter: options.keyPrefix, err: error }, 'Rate limit not applied: Redis is unavailable (serving anyway)');
        return undefined;
      }
    },
  };
}
