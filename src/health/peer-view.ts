import type { Redis } from 'ioredis';
import type { PrismaClient } from '../generated/prisma/client.js';

/** The two dependencies whose outage readiness weighs against the peers' view. */
export type Dependency = 'database' | 'redis';

/**
 * What the other API instances last saw of a dependency, learnt through the other one: the
 * database's health is kept in Redis, Redis's health in PostgreSQL. An instance cut off from
 * one dependency can so tell "everyone lost it" (stay in rotation: nobody is better placed)
 * from "only I lost it" (leave rotation: the others serve). Each store's own clock stamps and
 * ages the reports, so hosts whose clocks differ agree.
 */
export interface PeerView {
  /** Records that this instance reaches both dependencies now. */
  report(): Promise<void>;
  /** Milliseconds since another instance last reached `dependency`; undefined if none did lately or the other store is unreachable. */
  peerReachedAgo(dependency: Dependency): Promise<number | undefined>;
}

// Reports older than this are forgotten: a peer that stopped reporting says nothing.
const KEEP_MS = 60_000;
const PRUNE_EVERY = 30;

const REPORT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`;

const NEWEST_OTHER = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local newest = redis.call('ZREVRANGE', KEYS[1], 0, 1, 'WITHSCORES')
for i = 1, #newest, 2 do
  if newest[i] ~= ARGV[1] then return now - tonumber(newest[i + 1]) end
end
return -1
`;

export function createPeerView(options: { id: string; redis: Redis; prisma: PrismaClient; keyPrefix: string; scope: string }): PeerView {
  const { id, redis, prisma } = options;
  // Braces: one Redis Cluster hash slot with the membership's keys of the same scope.
  let reports = 0;
  const databaseKey = `${options.keyPrefix}cluster:{${options.scope}}:database-reached`;
  return {
    async report() {
      await Promise.all([
        redis.eval(REPORT, 1, databaseKey, id, KEEP_MS),
        prisma.$executeRaw`INSERT INTO "instance_health" ("member_id", "redis_ok_at") VALUES (${id}, now()) ON CONFLICT ("member_id") DO UPDATE SET "redis_ok_at" = now()`,
      ]);
      // Rows of instances long gone, now and then (each instance reports every second).
      reports += 1;
      if (reports % PRUNE_EVERY === 1) await prisma.$executeRaw`DELETE FROM "instance_health" WHERE "redis_ok_at" < now() - make_interval(secs => ${KEEP_MS / 1000})`;
    },
    async peerReachedAgo(dependency) {
      if (dependency === 'database') {
        const age = Number(await redis.eval(NEWEST_OTHER, 1, databaseKey, id));
        return age >= 0 ? age : undefined;
      }
      const [row] = await prisma.$queryRaw<{ age: number | null }[]>`SELECT (extract(epoch FROM now() - max("redis_ok_at")) * 1000)::float8 AS "age" FROM "instance_health" WHERE "member_id" <> ${id} AND "redis_ok_at" > now() - make_interval(secs => ${KEEP_MS / 1000})`;
      return row?.age ?? undefined;
    },
  };
}
