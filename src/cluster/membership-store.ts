import type { Redis } from 'ioredis';

/** What a member publishes about itself on each heartbeat (its claim is kept beside it). */
export interface MemberInfo {
  id: string;
  host: string;
  role: 'api' | 'worker';
  instanceId: number;
  pid: number;
  version: string;
  startedAt: string;
  /** Seconds since the process started, as of its last heartbeat. */
  uptime: number;
  memory: { rss: number };
  /** Requests served per second since its previous heartbeat (0 for the worker). */
  requestsPerSecond: number;
  /** Socket.IO clients connected to it (0 for the worker). */
  sockets: number;
  pool: {
    /** The size the budget split gives it (or DB_POOL_MAX). */
    want: number;
    /** Its pool's current size. */
    max: number;
    inUse: number;
    /** Connections it has open on the server. */
    open: number;
    waiting: number;
  };
}

export interface Member extends MemberInfo {
  /** Connections it may hold: the budget check counts these. */
  claim: number;
}

export interface BeatResult {
  /** The claim granted to the caller. */
  claim: number;
  /** Every live member sharing the database, the caller included. */
  members: Member[];
}

/**
 * One heartbeat, atomic in Redis: forgets members whose entry expired, then stores the
 * caller's info and claim. Shrinking a claim is immediate; growing it is granted only as far
 * as the live members' claims together stay within the budget, so members joining at the
 * same moment cannot over-shoot it. A forced claim (DB_POOL_MAX) is stored as asked.
 * Expiry uses Redis's clock, so members on hosts whose clocks differ agree on it.
 *
 * KEYS: expiries (sorted set), infos (hash), claims (hash)
 * ARGV: id, info JSON, requested claim, budget, ttl ms, forced (1/0)
 */
const BEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, gone in ipairs(dead) do
  redis.call('HDEL', KEYS[2], gone)
  redis.call('HDEL', KEYS[3], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)

local id = ARGV[1]
local requested = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local current = tonumber(redis.call('HGET', KEYS[3], id) or '0')
local granted = requested
if requested > current and ARGV[6] ~= '1' then
  local others = 0
  local claims = redis.call('HGETALL', KEYS[3])
  for i = 1, #claims, 2 do
    if claims[i] ~= id then others = others + tonumber(claims[i + 1]) end
  end
  granted = math.max(current, math.min(requested, budget - others))
end
redis.call('ZADD', KEYS[1], now + ttl, id)
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('HSET', KEYS[3], id, granted)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl * 2) end
return {granted, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}
`;

const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`;

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] ?? '', flat[i + 1] ?? '']);
  return out;
}

/** How long a member's entry outlives its last heartbeat: a member that died is forgotten within this. */
export const MEMBER_TTL_MS = 5000;

export interface MembershipStore {
  beat(info: MemberInfo, request: { claim: number; budget: number; forced: boolean }): Promise<BeatResult>;
  leave(id: string): Promise<void>;
}

export function createMembershipStore(redis: Redis, options: { keyPrefix: string; scope: string; ttlMs?: number }): MembershipStore {
  // The braces put the three keys in one Redis Cluster hash slot, as a script's keys must be.
  const base = `${options.keyPrefix}cluster:{${options.scope}}:`;
  const keys = [`${base}expiries`, `${base}members`, `${base}claims`] as const;
  const ttlMs = options.ttlMs ?? MEMBER_TTL_MS;
  return {
    async beat(info, request) {
      const [granted, infos, claims] = (await redis.eval(
        BEAT,
        keys.length,
        ...keys,
        info.id,
        JSON.stringify(info),
        request.claim,
        request.budget,
        ttlMs,
        request.forced ? 1 : 0,
      )) as [number, string[], string[]];
      const claimOf = new Map(pairs(claims).map(([id, claim]) => [id, Number(claim)]));
      const members = pairs(infos).map(([id, json]) => ({ ...(JSON.parse(json) as MemberInfo), claim: claimOf.get(id) ?? 0 }));
      return { claim: granted, members };
    },
    async leave(id) {
      await redis.eval(LEAVE, keys.length, ...keys, id);
    },
  };
}
