import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { assertEveryoneHoldsAll, follow, joined, startWriter, type Follower } from './helpers/followers.js';
import { createTestDatabase, privateRedis, sleep, TEST_JWT_SECRET, waitFor, type PrivateRedis, type TestDatabase } from './helpers/services.js';

/**
 * When Redis falters, nothing is missed and no one is locked out (docs/realtime.md "When
 * Redis or PostgreSQL falter"). Two PM2 instances on a private redis-server the test kills,
 * followers using the recipe's own code (public/js/room-feed.js), a steady writer.
 */

const tokens = createTokenService(TEST_JWT_SECRET);
const CAP = 5;

let redis: PrivateRedis;
let db: TestDatabase;
let cluster: Cluster;
const followers: Follower[] = [];
before(async () => {
  redis = await privateRedis();
  await redis.start();
  db = await createTestDatabase();
  cluster = await startCluster({
    instances: 2,
    databaseUrl: db.url,
    apiOnly: true,
    env: { REDIS_URL: redis.url, WRITE_RATE_LIMIT: '0', MAX_SOCKETS_PER_USER: String(CAP), NODE_ENV: 'production', LOG_LEVEL: 'info' },
  });
});
after(async () => {
  for (const f of followers) f.stop();
  await cluster.stop();
  await redis.kill();
  await db.drop();
});

async function instancePid(instance: number): Promise<{ pid: number; pmId: number }> {
  const p = (await cluster.jlist()).find((proc) => proc.name === 'api' && Number(proc.pm2_env.NODE_APP_INSTANCE) === instance);
  assert.ok(p, `instance ${instance} runs`);
  return { pid: p.pid, pmId: p.pm_id };
}

describe(`users at the socket cap (${CAP}) when an instance is killed`, () => {
  it('every user is back to full socket count within 20 s', async () => {
    const room = 'cap';
    const users = await Promise.all(['ann', 'ben', 'cy'].map((name) => tokens.sign(name)));
    const byUser = users.map((token) => Array.from({ length: CAP }, () => follow(cluster.baseUrl, room, token)));
    const all = byUser.flat();
    followers.push(...all);
    await joined(all);
    const { pid } = await instancePid(1);
    const full = () => byUser.every((sockets) => sockets.filter((f) => f.socket.connected).length === CAP);
    assert.ok(full());
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor('some sockets to drop', () => !full(), 10_000, 20);
    await waitFor('every user back to full count', full, 40_000, 100);
    const tookMs = Date.now() - killedAt;
    const refused = all.filter((f) => f.statuses.some((s) => s.error?.includes('Too many connections'))).length;
    console.log(`back to full count ${tookMs} ms after the kill; ${refused} sockets were refused by the cap meanwhile`);
    assert.ok(tookMs < 20_000, `back to full count after ${tookMs} ms`);
    for (const f of all) f.stop();
  });
});

describe('Redis down for 15 s or more, one instance restarted meanwhile', () => {
  // This failed in 2 of 3 whole-suite runs once: the instance slowest to reconnect was taken for
  // cut off alone (its peer "reached Redis after it lost it") and handed its sockets off, and a
  // follower whose catch-up point live messages had moved past the gap rejoined elsewhere from
  // there. Both are mended: readiness weighs peers' unbroken streaks (health/peer-view.ts), and
  // the `gap` event stops live messages from moving the point (messages/resync.ts).
  it('every follower ends with every acknowledged message exactly once, and the restarted instance serves reads', async () => {
    const room = 'redis-gap';
    const writerToken = await tokens.sign('writer');
    const group = await Promise.all([0, 1, 2, 3].map(async (i) => follow(cluster.baseUrl, room, await tokens.sign(`reader-${i}`))));
    followers.push(...group);
    await joined(group);
    const writer = startWriter(cluster.baseUrl, room, writerToken, 150);
    try {
      await waitFor('messages before the outage', () => writer.posted.length >= 10, 20_000, 50);
      await redis.kill();
      const downAt = Date.now();
      await sleep(3000);

      // Case 4: restarted while Redis is down, the instance still gets connections (never a pool of 0).
      const before = await instancePid(0);
      await cluster.pm2('restart', String(before.pmId));
      const restarted = await waitFor('instance 0 to be back', async () => {
        const now = await instancePid(0).catch(() => undefined);
        return now && now.pid !== before.pid && now.pid > 0 ? now : undefined;
      }, 30_000, 200);
      const statuses = new Map<string, number[]>();
      await waitFor('reads answered by the restarted instance', async () => {
        for (let i = 0; i < 10; i += 1) {
          const res = await fetch(`${cluster.baseUrl}/api/rooms/${room}/messages?limit=5`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer();
          const instance = res.headers.get('x-instance-id') ?? '?';
          statuses.set(instance, [...(statuses.get(instance) ?? []), res.status]);
        }
        return (statuses.get('0')?.length ?? 0) >= 5;
      }, 30_000, 100);
      for (const [instance, codes] of statuses) assert.ok(codes.every((c) => c === 200), `reads on instance ${instance}: ${codes.join(',')}`);
      const pool = cluster.logLines().filter((l) => l.event === 'db-pool' && l.pid === restarted.pid);
      assert.ok(pool.length > 0 && pool.every((l) => Number(l.poolMax) >= 1), `the restarted instance's pool: ${JSON.stringify(pool.map((l) => l.poolMax))}`);
      await sleep(Math.max(0, 15_000 - (Date.now() - downAt)));
      await redis.start();
      const upAt = writer.posted.length;
      console.log(`Redis down ${Date.now() - downAt} ms; ${upAt} messages acknowledged by then`);
      await waitFor('messages after Redis returns', () => writer.posted.length >= upAt + 20, 30_000, 100);
    } finally {
      await writer.stop();
    }
    assert.ok(writer.posted.length >= 80, `posted ${writer.posted.length}; failures: ${writer.failures.slice(0, 3).join('; ')}`);
    await assertEveryoneHoldsAll(group, writer.posted);
    assert.ok(cluster.logLines().some((l) => l.event === 'fan-out-resync'), 'an instance resynced its rooms');
    for (const f of group) f.stop();
  });
});
