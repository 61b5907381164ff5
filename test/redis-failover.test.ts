import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import { parseConfig } from '../src/config/env.js';
import type { StoredMessage } from '../src/messages/schema.js';
import { startCluster, type Cluster, type Pm2Process } from './helpers/cluster.js';
import { collect, connectToTwoInstances, join, postMessage, type TestSocket } from './helpers/realtime.js';
import { privateSentinels, SENTINEL_NAME, type PrivateSentinels } from './helpers/sentinel.js';
import { createTestDatabase, freePort, sleep, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);
const ROOM = 'failover';

interface ReadySample {
  at: number;
  instance: number;
  http: number;
  status: string;
}

/**
 * Issue 18 case 6: a Redis primary with a replica and three Sentinels, two PM2 instances and
 * the worker pointed at the Sentinels, a steady writer and a socket on each instance. The
 * primary is killed; then the promoted replica too (Redis gone for every instance).
 */
describe('Redis Sentinel failover (private primary, replica and three Sentinels; PM2, two instances)', () => {
  let redis: PrivateSentinels;
  let db: TestDatabase;
  let cluster: Cluster;
  let toStop: Cluster | undefined;
  const sockets: TestSocket[] = [];
  const samples: ReadySample[] = [];
  /** Moments at which the latest /ready of both instances (each under 2 s old) was a failure. */
  const everyInstanceOut: number[] = [];
  const writes: { at: number; status: number; id?: number }[] = [];
  let running = true;
  let loops: Promise<void>[] = [];

  before(async () => {
    [redis, db] = await Promise.all([privateSentinels(), createTestDatabase()]);
    const starting = startCluster({
      instances: 2,
      databaseUrl: db.url,
      env: {
        REDIS_SENTINELS: redis.sentinels,
        REDIS_SENTINEL_NAME: SENTINEL_NAME,
        // Nothing listens here: only Sentinel mode can reach Redis at all.
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
        WRITE_RATE_LIMIT: '0',
      },
    });
    // The Sentinels discover each other (hello messages every 2 s) while the cluster starts.
    const [started, voting] = await Promise.allSettled([starting, redis.failoverReady()]);
    if (started.status === 'fulfilled') toStop = cluster = started.value;
    if (started.status === 'rejected') throw started.reason as Error;
    if (voting.status === 'rejected') throw voting.reason as Error;
  });
  after(async () => {
    running = false;
    await Promise.all(loops);
    for (const socket of sockets) socket.close();
    await toStop?.stop();
    await redis.destroy();
    await db.drop();
  });

  /** Polls /ready over new connections, which PM2 hands to the instances in turn, and keeps each instance's latest answer. */
  async function watchReadiness(): Promise<void> {
    const latest = new Map<number, ReadySample>();
    while (running) {
      try {
        const res = await fetch(`${cluster.baseUrl}/ready`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
        const body = (await res.json()) as { status: string };
        const sample = { at: Date.now(), instance: Number(res.headers.get('x-instance-id')), http: res.status, status: body.status };
        samples.push(sample);
        latest.set(sample.instance, sample);
        const fresh = [...latest.values()].filter((s) => sample.at - s.at < 2000);
        if (fresh.length === 2 && fresh.every((s) => s.http !== 200)) everyInstanceOut.push(sample.at);
      } catch {
        // A probe that got no answer says nothing about readiness; /health-style failures are not asserted here.
      }
      await sleep(100);
    }
  }

  async function write(token: string): Promise<void> {
    let n = 0;
    while (running) {
      const at = Date.now();
      n += 1;
      try {
        const res = await postMessage(cluster.baseUrl, ROOM, { body: `m${n}` }, token, { headers: { connection: 'close' }, timeoutMs: 10_000 });
        writes.push({ at, status: res.status, id: res.status === 201 ? ((await res.json()) as StoredMessage).id : undefined });
      } catch {
        writes.push({ at, status: 0 });
      }
      await sleep(150);
    }
  }

  const readyOf = async () => {
    const byInstance = new Map<number, string>();
    for (let i = 0; i < 8; i += 1) {
      const res = await fetch(`${cluster.baseUrl}/ready`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
      byInstance.set(Number(res.headers.get('x-instance-id')), `${res.status} ${((await res.json()) as { status: string }).status}`);
    }
    return byInstance;
  };
  const restarts = (list: Pm2Process[]) => list.map((p) => `${p.name}:${p.pid}:${p.pm2_env.restart_time}`).sort();

  it('follows the promoted replica without a restart: fan-out resumes within 10 s, every write is stored, /ready never fails on both instances at once', async () => {
    const token = await tokens.sign('writer');
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    await join(a.socket, ROOM);
    await join(b.socket, ROOM);
    const seen = [collect(a.socket, 'message'), collect(b.socket, 'message')] as const;
    const instances = [a.hello.instanceId, b.hello.instanceId] as const;
    loops = [watchReadiness(), write(token)];
    // Each socket gets messages stored by the other instance: fan-out through Redis works.
    const crossed = (after: number) => [0, 1].every((i) => seen[i]?.some((m) => m.id > after && m.origin !== undefined && m.origin.instanceId !== instances[i]));
    await waitFor('fan-out across instances before the failover', () => crossed(0), 20_000, 100);
    const before = restarts(await cluster.jlist());

    const lastIdBefore = Math.max(...writes.flatMap((w) => (w.id === undefined ? [] : [w.id])));
    const killedAt = Date.now();
    await redis.primary.kill();
    await waitFor('Sentinel to promote the replica', async () => (await redis.primaryPort()) === redis.replica.port, 30_000, 200);
    const promotedMs = Date.now() - killedAt;
    await waitFor('fan-out across instances after the failover', () => crossed(lastIdBefore), 30_000, 50);
    const resumedMs = Date.now() - killedAt;
    // Every connection of both instances is on the new primary, the adapter's subscriber included.
    await waitFor('/ready ok on both instances', async () => [...(await readyOf()).values()].filter((s) => s === '200 ok').length === 2, 30_000);
    const readyMs = Date.now() - killedAt;
    console.log(`failover: promoted after ${promotedMs} ms, fan-out across instances again after ${resumedMs} ms, /ready ok on both after ${readyMs} ms; ` +
      `${samples.filter((s) => s.at > killedAt && s.http !== 200).length} of ${samples.filter((s) => s.at > killedAt).length} /ready answers since the kill were 503`);

    assert.ok(resumedMs < 10_000, `fan-out resumed ${resumedMs} ms after the primary was killed`);
    assert.deepEqual(restarts(await cluster.jlist()), before, 'no process restarted (pids and PM2 restart counts unchanged)');
    const watched = new Set(samples.filter((s) => s.at > killedAt).map((s) => s.instance));
    assert.equal(watched.size, 2, '/ready was polled on both instances throughout');
    assert.deepEqual(everyInstanceOut, [], '/ready never failed on both instances at once');
    const failed = writes.filter((w) => w.status !== 201);
    assert.deepEqual(failed, [], 'every write was stored');
  });

  it('with Redis gone for every instance, /ready stays 200 (degraded) and reads and writes succeed', async () => {
    const token = await tokens.sign('writer');
    const writesBefore = writes.length;
    await redis.replica.kill();
    const states = await waitFor('/ready degraded on both instances', async () => {
      const byInstance = await readyOf();
      return byInstance.size === 2 && [...byInstance.values()].every((s) => s === '200 degraded') ? byInstance : undefined;
    }, 30_000);
    assert.equal(states.size, 2);
    for (let i = 0; i < 4; i += 1) {
      const posted = await postMessage(cluster.baseUrl, ROOM, { body: `without redis ${i}` }, token, { headers: { connection: 'close' }, timeoutMs: 10_000 });
      assert.equal(posted.status, 201);
      const read = await fetch(`${cluster.baseUrl}/api/rooms/${ROOM}/messages`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
      assert.equal(read.status, 200);
    }
    // Keep the watch and the writer going a moment longer without Redis.
    await sleep(3000);
    running = false;
    await Promise.all(loops);
    assert.ok(writes.length > writesBefore, 'the writer kept writing');
    assert.deepEqual(writes.filter((w) => w.status !== 201), [], 'every write was stored');
    assert.deepEqual(everyInstanceOut, [], '/ready never failed on both instances at once');
  });
});

describe('Sentinel settings', () => {
  it('parses REDIS_SENTINELS and REDIS_SENTINEL_NAME together, and refuses one without the other or a bad address with one line naming it', () => {
    const config = parseConfig({ REDIS_SENTINELS: '10.0.0.1:26379, sentinel-b:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 's3', REDIS_URL: 'redis://:from-url@ignored:1/2' });
    assert.deepEqual(config.redis.sentinel, {
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }, { host: '::1', port: 26381 }],
      name: 'mymaster',
      password: 's3',
    });
    assert.equal(parseConfig({}).redis.sentinel, undefined, 'REDIS_URL alone, as before');
    assert.throws(() => parseConfig({ REDIS_SENTINELS: '127.0.0.1:26379' }), /REDIS_SENTINELS and REDIS_SENTINEL_NAME must be set together/);
    assert.throws(() => parseConfig({ REDIS_SENTINEL_NAME: 'mymaster' }), /must be set together/);
    assert.throws(() => parseConfig({ REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_NAME: 'mymaster' }), /REDIS_SENTINELS must be a comma-separated list of host:port \(got "127.0.0.1"\)/);
    assert.throws(() => parseConfig({ REDIS_SENTINELS: 'a:0', REDIS_SENTINEL_NAME: 'mymaster' }), /REDIS_SENTINELS must be/);
  });
});
