import type { Redis } from 'ioredis';
import type { PrismaClient } from '../generated/prisma/client.js';

/** The two dependencies whose outage readiness weighs against the peers' view. */
export type Dependency = 'database' | 'redis';

/**
 * What the other API instances see of a dependency, learnt through the other one: the
 * database's health is kept in Redis, Redis's health in PostgreSQL. An instance cut off from
 * one dependency can so tell "everyone lost it" (stay in rotation: nobody is better placed)
 * from "only I lost it" (leave rotation: the others serve). Each store's own clock stamps and
 * ages the reports, so hosts whose clocks differ agree.
 *
 * What counts is how long a peer has reached the dependency *without a break*, not when it
 * last did: after an outage every instance shares, the first one back must not make the
 * others look cut off while they are still reconnecting (ioredis retries every 2 s).
 */
export interface PeerView {
  /** Records that this instance reaches both dependencies now. */
  report(): Promise<void>;
  /** Milliseconds for which another instance has reached `dependency` without a break; undefined if none reaches it now or the other store is unreachable. */
  peerReachingFor(dependency: Dependency): Promise<number | undefined>;
}

// Reports older than this are forgotten: a peer that stopped reporting says nothing.
const KEEP_MS = 60_000;
/**
 * Each instance reports every second (READINESS_WATCH_MS); a report this much later than the
 * one before starts a new streak, and a peer whose last report is older does not reach the
 * dependency now.
 */
export const STREAK_BREAK_MS = 3000;
const PRUNE_EVERY = 30;

// KEYS: the reports (member -> last, a sorted set) and the streaks (member -> since, a hash).
const REPORT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not last or now - tonumber(last) > tonumber(ARGV[3]) then redis.call('HSET', KEYS[2], ARGV[1], now) end
redis.call('ZADD', KEYS[1], now, ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
for _, member in ipairs(gone) do redis.call('HDEL', KEYS[2], member) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
return 1
`;

const LONGEST_OTHER_STREAK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local best = -1
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  if member ~= ARGV[1] then
    local since = tonumber(redis.call('HGET', KEYS[2], member) or now)
    if now - since > best then best = now - since end
  end
end
return best
`;

export function createPeerView(options: { id: string; redis: Redis; prisma: PrismaClient; keyPrefix: string; scope: string }): PeerView {
  const { id, redis, prisma } = options;
  // Braces: one Redis Cluster hash slot with the membership's keys of the same scope.
  let reports = 0;
  const databaseKeys = [`${options.keyPrefix}cluster:{${options.scope}}:database-reached`, `${options.keyPrefix}cluster:{${options.scope}}:database-reached-since`];
  const breakSecs = STREAK_BREAK_MS / 1000;
  return {
    async report() {
      await Promise.all([
        redis.eval(REPORT, 2, ...databaseKeys, id, KEEP_MS, STREAK_BREAK_MS),
        // In DO UPDATE, the table's name reads the row as it was before this report.
        prisma.$executeRaw`INSERT INTO "instance_health" ("member_id", "redis_ok_at", "redis_ok_since") VALUES (${id}, now(), now())
          ON CONFLICT ("member_id") DO UPDATE SET "redis_ok_at" = now(),
            "redis_ok_since" = CASE WHEN "instance_health"."redis_ok_at" < now() - make_interval(secs => ${breakSecs}) THEN now() ELSE "instance_health"."redis_ok_since" END`,
      ]);
      // Rows of instances long gone, now and then (each instance reports every second).
      reports += 1;
      if (reports % PRUNE_EVERY === 1) await prisma.$executeRaw`DELETE FROM "instance_health" WHERE "redis_ok_at" < now() - make_interval(secs => ${KEEP_MS / 1000})`;
    },
    async peerReachingFor(dependency) {
      if (dependency === 'database') {
        const streak = Number(await redis.eval(LONGEST_OTHER_STREAK, 2, ...databaseKeys, id, STREAK_BREAK_MS));
        return streak >= 0 ? streak : undefined;
      }
      const [row] = await prisma.$queryRaw<{ streak: number | null }[]>`SELECT (extract(epoch FROM now() - min("redis_ok_since")) * 1000)::float8 AS "streak" FROM "instance_health" WHERE "member_id" <> ${id} AND "redis_ok_at" > now() - make_interval(secs => ${breakSecs})`;
      return row?.streak ?? undefined;
    },
  };
}
