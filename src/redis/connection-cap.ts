import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { rateLimitedWarn } from '../observability/rate-limited-log.js';

/**
 * How many connections one user holds across every instance, capped at `max`. Each user has
 * a sorted set in Redis whose members are connection ids scored by when their entry expires;
 * the instance holding a connection pushes that time forward every `ttlMs / 3`, and removes
 * the entry when the connection ends. Times are Redis' own (TIME), so hosts with skewed
 * clocks agree.
 *
 * An instance that dies cannot release its entries. Each entry is named after the instance
 * that holds it (`<instance token>|<connection id>`), and each instance keeps a liveness key
 * that lapses `liveTtlMs` (5 s) after its last refresh (every second). Before counting, an
 * acquire drops the entries of instances whose liveness key is gone: a dead instance's slots
 * are free for its users' reconnects within 5 s of its death, not `ttlMs` later. The entry's
 * own expiry stays as a backstop. The liveness keys are read by name inside the script, so
 * the cap needs a single Redis (standalone or Sentinel-managed), not Redis Cluster.
 */

// KEYS[1] the user's set; ARGV: member, max, ttlMs, liveness key prefix, own token, liveTtlMs.
// Returns 1 if admitted, 0 if at the cap.
const ACQUIRE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('SET', ARGV[4] .. ARGV[5], '1', 'PX', ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local token = string.match(member, '^([^|]+)|')
  if token and redis.call('EXISTS', ARGV[4] .. token) == 0 then redis.call('ZREM', KEYS[1], member) end
end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** How long an instance's entries outlive its last liveness refresh (as cluster membership's entries do). */
export const CAP_LIVENESS_TTL_MS = 5000;
const LIVENESS_REFRESH_MS = 1000;

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

/** `instanceKeyPrefix` must not be a prefix users' keys can fall under (`keyPrefix` + any user name). */
export function createConnectionCap(options: { redis: Redis; keyPrefix: string; instanceKeyPrefix: string; max: number; ttlMs?: number; logger: Logger }): ConnectionCap {
  const { redis, max } = options;
  const ttlMs = options.ttlMs ?? 60_000;
  const token = randomBytes(8).toString('hex');
  const liveKey = `${options.instanceKeyPrefix}${token}`;
  const key = (user: string) => `${options.keyPrefix}${user}`;
  const entry = (connectionId: string) => `${token}|${connectionId}`;
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
      track(redis.eval(REFRESH, 1, key(user), ttlMs, ...[...ids].map(entry)).catch(unavailable));
    }
  }, Math.floor(ttlMs / 3));
  refresh.unref();
  const alive = () => {
    if (redis.status === 'ready') track(redis.set(liveKey, '1', 'PX', CAP_LIVENESS_TTL_MS).catch(unavailable));
  };
  alive();
  const liveness = setInterval(alive, LIVENESS_REFRESH_MS);
  liveness.unref();

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
        const admitted = (await redis.eval(ACQUIRE, 1, key(user), entry(connectionId), max, ttlMs, options.instanceKeyPrefix, token, CAP_LIVENESS_TTL_MS)) === 1;
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
      track(redis.zrem(key(user), entry(connectionId)).catch(unavailable));
    },
    async close() {
      clearInterval(refresh);
      clearInterval(liveness);
      await Promise.allSettled([...pending]);
    },
  };
}
