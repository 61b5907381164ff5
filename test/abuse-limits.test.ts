import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createTokenService } from '../src/auth/jwt.js';
import { CAP_LIVENESS_TTL_MS, createConnectionCap } from '../src/redis/connection-cap.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { connect, emitRaw, join, type TestSocket, postMessage } from './helpers/realtime.js';
import { adminQuery, createTestDatabase, privateRedis, SHARED_REDIS_URL, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

/**
 * Limits on abuse hold for the whole cluster: two instances here share one Redis key prefix,
 * as the instances of one deployment do, so each limit is counted once, not per instance.
 */

const tokens = createTokenService(TEST_JWT_SECRET);
let db: TestDatabase;
const apis: TestApi[] = [];
const sockets: TestSocket[] = [];
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  for (const socket of sockets) socket.close();
  for (const api of apis) await api.stop();
  await db.drop();
});

/** Two instances of one deployment (same Redis prefix). */
async function deployment(env: Record<string, string>): Promise<[TestApi, TestApi]> {
  const shared = { REDIS_KEY_PREFIX: `${uniqueName('t')}:`, ...env };
  const pair: [TestApi, TestApi] = [await startTestApi(db.url, shared), await startTestApi(db.url, shared)];
  apis.push(...pair);
  // As PM2 does (wait_ready): traffic only once Redis and PostgreSQL answer.
  for (const api of pair) await waitFor('the instance to be ready', async () => (await api.readiness.check()).ready);
  return pair;
}

async function rows(author: string): Promise<number> {
  return Number((await adminQuery<{ n: string }>('SELECT count(*) AS n FROM messages WHERE author = $1', [author], db.url))[0]?.n);
}

function post(api: TestApi, token: string, headers: Record<string, string> = {}): Promise<Response> {
  return postMessage(api.url, 'limits', { body: 'hi' }, token, { headers });
}

describe('WRITE_RATE_LIMIT: messages per user per minute, for the whole cluster', () => {
  it('lets 5 of 12 writes alternating over two instances through, then 429 with Retry-After and RateLimit headers; another user is unaffected', async () => {
    const [a, b] = await deployment({ WRITE_RATE_LIMIT: '5' });
    const token = await tokens.sign('writer');
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 12; i += 1) {
      last = await post(i % 2 ? b : a, token);
      statuses.push(last.status);
      if (last.status === 201) {
        assert.equal(last.headers.get('ratelimit-limit'), '5');
        assert.equal(last.headers.get('ratelimit-policy'), '5;w=60');
      }
    }
    assert.deepEqual(statuses, [201, 201, 201, 201, 201, 429, 429, 429, 429, 429, 429, 429]);
    assert.ok(last);
    const retryAfter = Number(last.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(last.headers.get('ratelimit-remaining'), '0');
    assert.equal(last.headers.get('ratelimit-reset'), String(retryAfter));
    const error = ((await last.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'RATE_LIMITED');
    assert.match(error.message, /at most 5 per 60 s/);
    assert.equal(await rows('writer'), 5);
    assert.equal((await post(b, await tokens.sign('someone-else'))).status, 201);
    // Reading is not a write.
    assert.equal((await fetch(`${a.url}/api/rooms/limits/messages`)).status, 200);
  });
});

describe('API_RATE_LIMIT: requests per client address per minute', () => {
  it('is off by default', async () => {
    const [a] = await deployment({});
    for (let i = 0; i < 30; i += 1) assert.equal((await fetch(`${a.url}/api/status`)).status, 200);
  });

  it('without TRUST_PROXY, counts the connection\'s address: a client cannot reset it with X-Forwarded-For', async () => {
    const [a, b] = await deployment({ API_RATE_LIMIT: '4' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await fetch(`${(i % 2 ? b : a).url}/api/status`, { headers: { 'x-forwarded-for': `203.0.113.${i}` } })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    // Probes are never limited: a load balancer would take the instance out. A scrape is limited like any route.
    for (const path of ['/health', '/api/health', '/ready']) assert.notEqual((await fetch(`${a.url}${path}`)).status, 429, path);
    assert.equal((await fetch(`${a.url}/metrics`)).status, 429);
  });

  it('with TRUST_PROXY=true (one proxy), counts the address the proxy saw; a spoofed entry before it changes nothing', async () => {
    const [a, b] = await deployment({ API_RATE_LIMIT: '3', TRUST_PROXY: 'true' });
    const as = (api: TestApi, xff: string) => fetch(`${api.url}/api/status`, { headers: { 'x-forwarded-for': xff } }).then((r) => r.status);
    assert.deepEqual([await as(a, '198.51.100.7'), await as(b, '198.51.100.7'), await as(a, '198.51.100.7')], [200, 200, 200]);
    assert.equal(await as(b, '198.51.100.7'), 429);
    // What nginx's $proxy_add_x_forwarded_for sends when the client forged a header: "forged, real".
    assert.equal(await as(a, '192.0.2.99, 198.51.100.7'), 429);
    assert.equal(await as(a, '198.51.100.8'), 200, 'another client address has its own budget');
  });
});

describe('limits fail open while Redis is down', () => {
  it('serves writes and sockets past the limits, logs it once, and counts again when Redis is back', async () => {
    const redis = await privateRedis();
    await redis.start();
    try {
      const [a] = await deployment({ REDIS_URL: redis.url, WRITE_RATE_LIMIT: '2', MAX_SOCKETS_PER_USER: '1' });
      const token = await tokens.sign('during-outage');
      assert.deepEqual([(await post(a, token)).status, (await post(a, token)).status, (await post(a, token)).status], [201, 201, 429]);
      await redis.kill();
      for (let i = 0; i < 3; i += 1) assert.equal((await post(a, token)).status, 201);
      const during = await connect(a.url, await tokens.sign('socket-owner'));
      const second = await connect(a.url, await tokens.sign('socket-owner'));
      sockets.push(during.socket, second.socket);
      assert.equal(a.logs.filter((l) => l.event === 'rate-limit-unavailable').length, 1, 'logged once, not per request');
      assert.equal(a.logs.filter((l) => l.event === 'connection-cap-unavailable').length, 1);
      await redis.start();
      await waitFor('the write limit to count again', async () => (await post(a, token)).status === 429, 20_000, 300);
    } finally {
      await redis.kill();
    }
  });
});

describe('MAX_SOCKETS_PER_USER: connections per user across the cluster', () => {
  it('refuses the 4th connection of one user over two instances with TOO_MANY_CONNECTIONS, and admits one again after a disconnect', async () => {
    const [a, b] = await deployment({ MAX_SOCKETS_PER_USER: '3' });
    const token = await tokens.sign('many-tabs');
    const open: TestSocket[] = [];
    for (const api of [a, b, a]) open.push((await connect(api.url, token)).socket);
    sockets.push(...open);
    await assert.rejects(connect(b.url, token), /Too many connections for this user: at most 3 at once/);
    const other = await connect(b.url, await tokens.sign('someone-else'));
    sockets.push(other.socket);
    open[0]?.close();
    const again = await waitFor('a slot to be released', async () => connect(b.url, token).catch(() => undefined), 10_000, 200);
    sockets.push(again.socket);
  });

  it('frees the slots of an instance that crashed within its liveness TTL (5 s), not the 60 s entry TTL', async () => {
    const redis = new Redis(SHARED_REDIS_URL);
    const logger = pino({ level: 'silent' });
    const keyPrefix = `${uniqueName('t')}:sockets:`;
    const instanceKeyPrefix = `${keyPrefix}instances:`;
    try {
      await redis.ping(); // connected, so the caps below ask Redis rather than fail open
      const crashed = createConnectionCap({ redis, keyPrefix, instanceKeyPrefix, max: 2, logger });
      assert.equal(await crashed.acquire('u', 'c1'), true);
      assert.equal(await crashed.acquire('u', 'c2'), true);
      await crashed.close(); // stops refreshing and never releases: what a SIGKILL leaves behind
      const started = Date.now();
      const survivor = createConnectionCap({ redis, keyPrefix, instanceKeyPrefix, max: 2, logger });
      assert.equal(await survivor.acquire('u', 'c3'), false);
      await waitFor('the crashed instance\'s entries to be dropped', () => survivor.acquire('u', 'c3'), 10_000, 100);
      assert.ok(Date.now() - started < CAP_LIVENESS_TTL_MS + 2000, `freed after ${Date.now() - started} ms`);
      // A live instance's entries stay counted past the liveness TTL: it keeps its key alive.
      await new Promise((resolve) => setTimeout(resolve, CAP_LIVENESS_TTL_MS + 1000));
      assert.equal(await survivor.acquire('u', 'c4'), true);
      assert.equal(await survivor.acquire('u', 'c5'), false, 'c3 and c4 are still counted');
      await survivor.close();
    } finally {
      await redis.quit();
    }
  });
});

describe('socket event throttle (SOCKET_EVENT_RATE_LIMIT per connection)', () => {
  it('refuses events over the limit with RATE_LIMITED, then disconnects a client that keeps flooding', async () => {
    const [a] = await deployment({ SOCKET_EVENT_RATE_LIMIT: '5' });
    const { socket } = await connect(a.url, await tokens.sign('flooder'));
    sockets.push(socket);
    const acks = await Promise.all(Array.from({ length: 8 }, (_, i) => emitRaw(socket, 'join', { room: `r${i}` })));
    assert.equal(acks.filter((ack) => ack.ok).length, 5);
    const limited = acks.filter((ack) => !ack.ok);
    assert.equal(limited.length, 3);
    for (const ack of limited) {
      assert.equal(ack.error.code, 'RATE_LIMITED');
      assert.match(ack.error.message, /at most 5 per second per connection; retry in \d+ ms/);
    }
    const reason = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    const raw = socket as unknown as { emit(e: string, ...a: unknown[]): void };
    for (let i = 0; i < 20; i += 1) raw.emit('join', { room: 'flood' });
    assert.equal(await reason, 'io server disconnect');
    assert.ok(a.logs.some((l) => l.event === 'socket-flood' && l.user === 'flooder'));
    // Others are unaffected.
    const calm = await connect(a.url, await tokens.sign('calm'));
    sockets.push(calm.socket);
    assert.deepEqual(await join(calm.socket, 'lobby'), { ok: true });
  });
});

describe('token expiry', () => {
  it('disconnects a socket when its token expires, after telling it; it reconnects with a new token', async () => {
    const [a] = await deployment({});
    const { socket } = await connect(a.url, await tokens.sign('short-lived', '3s'));
    sockets.push(socket);
    assert.deepEqual(await join(socket, 'lobby'), { ok: true });
    const expired = new Promise<string>((resolve) => socket.once('token-expired', ({ expiredAt }) => { resolve(expiredAt); }));
    const reason = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    assert.ok(Date.parse(await expired) <= Date.now() + 100);
    assert.equal(await reason, 'io server disconnect');
    socket.auth = { token: await tokens.sign('short-lived') };
    socket.connect();
    await waitFor('the reconnection', () => (socket as { connected: boolean }).connected, 10_000, 100);
    assert.deepEqual(await join(socket, 'lobby'), { ok: true });
  });
});
