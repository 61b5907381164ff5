import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { rateLimitedWarn } from '../observability/rate-limited-log.js';

/**
 * How many connections one user holds across every instance, capped at `max`. Each user has
 * a sorted set in Redis whose members are connection ids scored by when their entry expires;
 * the instance holding a connection pushes that time forward every `ttlMs / 3`, and removes
 * the entry when the connection ends. An instance that crashes stops refreshing, so its
 * entries lapse within `ttlMs` instead of counting against their users for ever. Times are
 * Redis' own (TIME), so hosts with skewed clocks agree.
 */

// KEYS[1] the user's set; ARGV: member, max, ttlMs. Returns 1 if admitted, 0 if at the cap.
const ACQUIRE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

// KEYS[1] the user's set; ARGV: ttlMs, members... Pushes their expiry forward.
const REFRESH = `
local t = redis.call('TIME')
local until_ = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], until_, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1`;

export interface ConnectionCap {
  readonly max: number;
  /** True if the user may open one more connection; true as well when Redis cannot be asked (fail open). */
  acquire(user: string, connectionId: string): Promise<boolean>;
  release(user: string, connectionId: string): void;
  /** Stops refreshing and waits for pending releases (shutdown, before Redis closes). */
  close(): Promise<void>;
}

export function createConnectionCap(options: { redis: Redis; keyPrefix: string; max: number; ttlMs?: number; logger: Logger }): ConnectionCap {
  const { redis, max } = options;
  const ttlMs = options.ttlMs ?? 60_000;
  const key = (user: string) => `${options.keyPrefix}${user}`;
  const warn = rateLimitedWarn(options.logger);
  // This instance's connections, by user: what the refresh re-announces.
  const local = new Map<string, Set<string>>();
  const pending = new Set<Promise<unknown>>();
  const track = (promise: Promise<unknown>) => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise));
  };
  const unavailable = (error: unknown) => {
    warn({ event: 'connection-cap-unavailable', err: error }, 'Connection cap not applied: Redis is unavailable (admitting anyway)');
  };

  const refresh = setInterval(() => {
    if (redis.status !== 'ready') return;
    for (const [user, ids] of local) {
      track(redis.eval(REFRESH, 1, key(user), ttlMs, ...ids).catch(unavailable));
    }
  }, Math.floor(ttlMs / 3));
  refresh.unref();

  return {
    max,
    async acquire(user, connectionId) {
      const remember = () => {
        const ids = local.get(user) ?? new Set<string>();
        ids.add(connectionId);
        local.set(user, ids);
      };
      // While Redis is down, answer now rather than wait for ioredis' retries.
      if (redis.status !== 'ready') {
        unavailable(new Error(`Redis connection is ${redis.status}`));
        remember();
        return true;
      }
      try {
        const admitted = (await redis.eval(ACQUIRE, 1, key(user), connectionId, max, ttlMs)) === 1;
        if (admitted) remember();
        return admitted;
      } catch (error) {
        unavailable(error);
        remember();
        return true;
      }
    },
    release(user, connectionId) {
      const ids = local.get(user);
      if (!ids?.delete(connectionId)) return;
      if (ids.size === 0) local.delete(user);
      if (redis.status !== 'ready') return; // the entry lapses by itself
      track(redis.zrem(key(user), connectionId).catch(unavailable));
    },
    async close() {
      clearInterval(refresh);
      await Promise.allSettled([...pending]);
    },
  };
}
