import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import type { StoredMessage } from '../src/messages/schema.js';
import { sample, startCluster, type Cluster } from './helpers/cluster.js';
import { collect, connectToTwoInstances, join, postMessage, type TestSocket } from './helpers/realtime.js';
import { createTestDatabase, privateRedis, sleep, TEST_JWT_SECRET, waitFor, type PrivateRedis, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);

const sockets: TestSocket[] = [];
after(() => {
  for (const socket of sockets) socket.close();
});

describe('Redis outage', () => {
  let cluster: Cluster;
  let redis: PrivateRedis;
  let db: TestDatabase;
  before(async () => {
    redis = await privateRedis();
    await redis.start();
    db = await createTestDatabase();
    cluster = await startCluster({ instances: 2, databaseUrl: db.url, env: { REDIS_URL: redis.url } });
  });
  after(async () => {
    await cluster.stop();
    await redis.kill();
    await db.drop();
  });

  /** `<HTTP status> <body status>` by instance, e.g. `200 degraded`. */
  async function readyByInstance(): Promise<Map<number, string>> {
    const byInstance = new Map<number, string>();
    for (let i = 0; i < 8; i += 1) {
      const res = await fetch(`${cluster.baseUrl}/ready`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
      byInstance.set(Number(res.headers.get('x-instance-id')), `${res.status} ${((await res.json()) as { status: string }).status}`);
    }
    return byInstance;
  }

  it('keeps answering, keeps /ready 200 (degraded, an outage both share) then ok, restarts nothing, and delivers across instances again', async () => {
    const token = await tokens.sign('bob');
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    await join(a.socket, 'outage');
    await join(b.socket, 'outage');
    const pidsBefore = (await cluster.jlist()).map((p) => p.pid).sort();
    // Each instance learns who its peers are from a complete /metrics collection.
    await waitFor('a complete /metrics from both instances', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i += 1) {
        const res = await fetch(`${cluster.baseUrl}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
        await res.text();
        if (res.headers.get('x-metrics-instances') === '2') seen.add(res.headers.get('x-instance-id') ?? '');
      }
      return seen.size === 2;
    });

    await redis.kill();
    // Both lost Redis: neither leaves rotation (docs/lifecycle.md "Readiness").
    await waitFor('/ready to be 200 degraded on both instances', async () => {
      const states = await readyByInstance();
      return states.size === 2 && [...states.values()].every((s) => s === '200 degraded');
    });
    const down = (await (await fetch(`${cluster.baseUrl}/ready`)).json()) as { status: string; checks: { redis: { status: string; outage?: string }; database: { status: string } } };
    assert.equal(down.status, 'degraded');
    assert.equal(down.checks.redis.status, 'error');
    assert.equal(down.checks.redis.outage, 'shared');
    assert.equal(down.checks.database.status, 'ok');
    for (const info of await sample<{ pid: number }>(cluster.baseUrl, '/health', 6)) assert.ok(info);
    // /metrics answers within its timeout with this instance's series, and names the instance it could not reach.
    // One gathering serves every scrape for a second: the ones below must be gathered after the kill.
    await sleep(1100);
    for (let i = 0; i < 4; i += 1) {
      const started = Date.now();
      const res = await fetch(`${cluster.baseUrl}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      const self = res.headers.get('x-instance-id') ?? '';
      const other = self === '0' ? '1' : '0';
      assert.equal(res.status, 200);
      assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
      assert.equal(res.headers.get('x-metrics-partial'), 'true');
      assert.equal(res.headers.get('x-metrics-unreachable'), other);
      assert.match(text, new RegExp(`^process_cpu_user_seconds_total\\{instance="${self}"`, 'm'));
      assert.match(text, new RegExp(`^cluster_metrics_unreachable\\{instance="${other}"\\} 1$`, 'm'));
    }
    // A write still succeeds while Redis is down; only its realtime fan-out is lost.
    assert.equal((await postMessage(cluster.baseUrl, 'outage', { body: 'during outage' }, token)).status, 201);
    // The fan-out's publish fails once its retries are spent; Redis comes back after that.
    await waitFor('the fan-out\'s publish to fail', () => cluster.logLines().some((l) => l.command === 'publish'), 10_000, 100);

    await redis.start();
    // /ready checks every Redis connection, the adapter's subscriber included, with a PING
    // sent after ioredis re-sends its SUBSCRIBEs on that connection: `ok` from both means
    // both listen again, so the one POST below must reach both.
    await waitFor('/ready to be ok on both instances', async () => {
      const states = await readyByInstance();
      return states.size === 2 && [...states.values()].every((s) => s === '200 ok');
    }, 30_000);

    const seenA = collect(a.socket, 'message');
    const seenB = collect(b.socket, 'message');
    const stored = (await (await postMessage(cluster.baseUrl, 'outage', { body: 'after outage' }, token)).json()) as StoredMessage;
    await waitFor('delivery across instances after Redis returns', () => seenA.some((m) => m.id === stored.id) && seenB.some((m) => m.id === stored.id), 10_000, 100);

    const after = await cluster.jlist();
    assert.deepEqual(after.map((p) => p.pid).sort(), pidsBefore);
    for (const p of after) assert.equal(p.pm2_env.restart_time, 0, `${p.name} restarted`);
  });
});
