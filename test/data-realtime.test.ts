import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTokenService } from '../src/auth/jwt.js';
import { sample, startCluster, type Cluster } from './helpers/cluster.js';
import { collect, connect, connectToTwoInstances, join, type TestSocket } from './helpers/realtime.js';
import { createTestDatabase, PG_ADMIN_URL, privateRedis, sleep, TEST_JWT_SECRET, waitFor, type PrivateRedis, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);

interface StoredMessage {
  id: number;
  room: string;
  author: string;
  body: string;
  createdAt: string;
}

async function post(cluster: Cluster, room: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${cluster.baseUrl}/api/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
}

let db: TestDatabase;
const sockets: TestSocket[] = [];
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  for (const socket of sockets) socket.close();
  await db.drop();
});

describe('realtime across a cluster of 2 with the background worker', () => {
  let cluster: Cluster;
  let token: string;
  before(async () => {
    cluster = await startCluster({ instances: 2, databaseUrl: db.url, env: { WORKER_STATS_INTERVAL_MS: '1000' } });
    token = await tokens.sign('alice');
  });
  after(async () => {
    await cluster.stop();
  });

  it('delivers a POSTed message exactly once to room members on both instances, and not to another room', async () => {
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    assert.notEqual(a.hello.pid, b.hello.pid);
    assert.equal(a.hello.user, 'alice');
    const outsider = await connect(cluster.baseUrl, token);
    sockets.push(outsider.socket);

    assert.deepEqual(await join(a.socket, 'lobby'), { ok: true });
    assert.deepEqual(await join(b.socket, 'lobby'), { ok: true });
    assert.deepEqual(await join(outsider.socket, 'elsewhere'), { ok: true });
    const seenA = collect(a.socket, 'message');
    const seenB = collect(b.socket, 'message');
    const seenOutsider = collect(outsider.socket, 'message');

    const res = await post(cluster, 'lobby', { body: 'hello cluster' }, token);
    assert.equal(res.status, 201);
    const stored = (await res.json()) as StoredMessage;
    assert.equal(stored.author, 'alice');
    assert.equal(stored.room, 'lobby');

    await waitFor('both members to receive the message', () => seenA.length > 0 && seenB.length > 0, 5000, 50);
    await sleep(750); // room for a duplicate to show up
    assert.deepEqual(seenA, [stored]);
    assert.deepEqual(seenB, [stored]);
    assert.deepEqual(seenOutsider, []);
  });

  it('delivers the worker\'s scheduled room stats to clients on both instances', async () => {
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    await join(a.socket, 'stats-room');
    await join(b.socket, 'stats-room');
    const statsA = collect(a.socket, 'stats');
    const statsB = collect(b.socket, 'stats');
    assert.equal((await post(cluster, 'stats-room', { body: 'activity' }, token)).status, 201);
    await waitFor('stats on both instances', () => statsA.length > 0 && statsB.length > 0, 10_000, 100);
    for (const stats of [...statsA, ...statsB]) {
      assert.equal(stats.room, 'stats-room');
      assert.ok(stats.messages >= 1);
      assert.equal(stats.windowMs, 1000);
    }
  });

  it('runs the worker as one fork-mode process beside the cluster-mode API', async () => {
    const list = await cluster.jlist();
    const workers = list.filter((p) => p.name === 'worker');
    assert.deepEqual(
      workers.map((w) => [w.pm2_env.exec_mode, w.pm2_env.status]),
      [['fork_mode', 'online']],
    );
    assert.equal(list.filter((p) => p.name === 'api' && p.pm2_env.exec_mode === 'cluster_mode').length, 2);
    assert.match(cluster.logs(), /Socket\.IO Redis Adapter enabled for cluster mode/);
  });

  it('pages a room newest first with a cursor', async () => {
    for (const body of ['one', 'two', 'three']) assert.equal((await post(cluster, 'paged', { body }, token)).status, 201);
    const first = (await (await fetch(`${cluster.baseUrl}/api/rooms/paged/messages?limit=2`)).json()) as { messages: StoredMessage[]; nextCursor: number | null };
    assert.deepEqual(first.messages.map((m) => m.body), ['three', 'two']);
    assert.ok(first.nextCursor);
    const rest = (await (await fetch(`${cluster.baseUrl}/api/rooms/paged/messages?limit=2&before=${first.nextCursor}`)).json()) as { messages: StoredMessage[]; nextCursor: number | null };
    assert.deepEqual(rest.messages.map((m) => m.body), ['one']);
    assert.equal(rest.nextCursor, null);
  });

  it('refuses unauthenticated or invalid writes with 401/400 naming the problem', async () => {
    const anonymous = await post(cluster, 'lobby', { body: 'hi' });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    assert.equal((await post(cluster, 'lobby', { body: 'hi' }, 'not-a-jwt')).status, 401);
    assert.equal((await post(cluster, 'lobby', { body: 'hi' }, await createTokenService('another-secret-entirely-0000').sign('mallory'))).status, 401);

    const badRoom = await post(cluster, 'bad%20room!', { body: 'hi' }, token);
    assert.equal(badRoom.status, 400);
    const badRoomError = ((await badRoom.json()) as { error: { code: string; message: string; details: { field: string }[] } }).error;
    assert.equal(badRoomError.code, 'VALIDATION_FAILED');
    assert.deepEqual(badRoomError.details.map((d) => d.field), ['params.room']);
    assert.match(badRoomError.message, /params\.room/);

    const empty = await post(cluster, 'lobby', { body: '   ' }, token);
    assert.equal(empty.status, 400);
    assert.deepEqual(((await empty.json()) as { error: { details: { field: string }[] } }).error.details.map((d) => d.field), ['body.body']);

    const badLimit = await fetch(`${cluster.baseUrl}/api/rooms/lobby/messages?limit=1000`);
    assert.equal(badLimit.status, 400);
  });

  it('refuses a socket without a valid token, a bad room name, and polling without sticky sessions', async () => {
    await assert.rejects(connect(cluster.baseUrl, undefined), /Missing bearer token/);
    await assert.rejects(connect(cluster.baseUrl, 'garbage'), /Invalid or expired token/);

    const client = await connect(cluster.baseUrl, token);
    sockets.push(client.socket);
    const refused = await join(client.socket, '../etc');
    assert.equal(refused.ok, false);
    assert.match(refused.error ?? '', /^room /);

    const polling = await fetch(`${cluster.baseUrl}/socket.io/?EIO=4&transport=polling`);
    assert.equal(polling.status, 403);
    assert.match(await polling.text(), /long-polling is disabled/);
  });

  it('reports ready with both dependency checks', async () => {
    const res = await fetch(`${cluster.baseUrl}/ready`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; checks: Record<string, { status: string }> };
    assert.equal(body.status, 'ok');
    assert.equal(body.checks.database?.status, 'ok');
    assert.equal(body.checks.redis?.status, 'ok');
  });
});

describe('database connection budget', () => {
  let cluster: Cluster;
  let budgetDb: TestDatabase;
  before(async () => {
    budgetDb = await createTestDatabase();
    cluster = await startCluster({
      instances: 2,
      databaseUrl: budgetDb.url,
      env: { DB_CONNECTION_BUDGET: '6', DB_POOL_TIMEOUT_MS: '500', DB_STATEMENT_TIMEOUT_MS: '3000' },
    });
  });
  after(async () => {
    await cluster.stop();
    await budgetDb.drop();
  });

  /** Samples the app database's connection count every 20 ms until stopped; returns the peak. */
  function sampleConnections(exceptPids: number[]) {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    let peak = 0;
    const state = { running: true };
    const done = (async () => {
      await client.connect();
      while (state.running) {
        const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND NOT (pid = ANY($2::int[]))', [budgetDb.name, exceptPids]);
        peak = Math.max(peak, rows[0]?.n ?? 0);
        await sleep(20);
      }
      await client.end();
    })();
    return {
      async stop() {
        state.running = false;
        await done;
        return peak;
      },
    };
  }

  async function burst(n: number, token: string) {
    return Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const res = i % 2 === 0 ? await post(cluster, 'budget', { body: `m${i}` }, token) : await fetch(`${cluster.baseUrl}/api/rooms/budget/messages?limit=5`, { signal: AbortSignal.timeout(15_000) });
        const body = (await res.json()) as { error?: { code: string } };
        return { status: res.status, code: body.error?.code };
      }),
    );
  }

  it('reports each instance\'s share of the budget', async () => {
    const infos = await sample<{ db: { poolMax: number; budget: number } }>(cluster.baseUrl, '/api/cluster-info', 4);
    for (const info of infos) assert.deepEqual({ poolMax: info.db.poolMax, budget: info.db.budget }, { poolMax: 2, budget: 6 });
  });

  it('200 concurrent database requests all succeed or get 503, within 6 connections', async (t) => {
    const token = await tokens.sign('budget');
    const sampler = sampleConnections([]);
    const results = await burst(200, token);
    const peak = await sampler.stop();
    for (const r of results) assert.ok([200, 201, 503].includes(r.status), `unexpected ${r.status}`);
    t.diagnostic(`peak ${peak} connections; ${results.filter((r) => r.status === 503).length} of 200 answered 503`);
    assert.ok(results.filter((r) => r.status !== 503).length > 0);
    assert.ok(peak > 0 && peak <= 6, `peak connections ${peak}`);
  });

  it('a saturated pool answers 503 DATABASE_BUSY instead of hanging, still within the budget', async (t) => {
    const token = await tokens.sign('budget');
    // Another session holds the table, as a long migration or a stuck transaction would.
    const locker = new pg.Client({ connectionString: budgetDb.url });
    await locker.connect();
    const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
    const sampler = sampleConnections([lockerPid]);
    const started = Date.now();
    const pending = burst(200, token);
    await sleep(1500);
    await locker.query('ROLLBACK');
    await locker.end();
    const results = await pending;
    const peak = await sampler.stop();

    for (const r of results) assert.ok([200, 201, 503].includes(r.status), `unexpected ${r.status}`);
    const busy = results.filter((r) => r.code === 'DATABASE_BUSY').length;
    t.diagnostic(`peak ${peak} connections; ${busy} DATABASE_BUSY, ${results.filter((r) => r.status === 503).length - busy} other 503, ${results.filter((r) => r.status !== 503).length} served`);
    assert.ok(busy > 0, 'requests that could not get a connection were answered 503 DATABASE_BUSY');
    assert.ok(Date.now() - started < 12_000, 'nothing hung');
    assert.ok(peak <= 6, `peak connections ${peak}`);
  });
});

describe('Redis outage', () => {
  let cluster: Cluster;
  let redis: PrivateRedis;
  let outageDb: TestDatabase;
  before(async () => {
    redis = await privateRedis();
    await redis.start();
    outageDb = await createTestDatabase();
    cluster = await startCluster({ instances: 2, databaseUrl: outageDb.url, env: { REDIS_URL: redis.url } });
  });
  after(async () => {
    await cluster.stop();
    await redis.kill();
    await outageDb.drop();
  });

  async function readyByInstance(): Promise<Map<number, number>> {
    const byInstance = new Map<number, number>();
    for (let i = 0; i < 8; i += 1) {
      const res = await fetch(`${cluster.baseUrl}/ready`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
      byInstance.set(Number(res.headers.get('x-instance-id')), res.status);
    }
    return byInstance;
  }

  it('keeps answering, turns /ready 503 then 200, restarts nothing, and delivers across instances again', async () => {
    const token = await tokens.sign('bob');
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    await join(a.socket, 'outage');
    await join(b.socket, 'outage');
    const pidsBefore = (await cluster.jlist()).map((p) => p.pid).sort();

    await redis.kill();
    await waitFor('/ready to be 503 on both instances', async () => {
      const states = await readyByInstance();
      return states.size === 2 && [...states.values()].every((s) => s === 503);
    });
    const down = (await (await fetch(`${cluster.baseUrl}/ready`)).json()) as { status: string; checks: { redis: { status: string }; database: { status: string } } };
    assert.equal(down.status, 'unavailable');
    assert.equal(down.checks.redis.status, 'error');
    assert.equal(down.checks.database.status, 'ok');
    for (const info of await sample<{ pid: number }>(cluster.baseUrl, '/health', 6)) assert.ok(info);
    // A write still succeeds while Redis is down; only its realtime fan-out is lost.
    assert.equal((await post(cluster, 'outage', { body: 'during outage' }, token)).status, 201);
    // Long enough for the fan-out's publish to exhaust its retries and fail (about 1.2 s).
    await sleep(3000);

    await redis.start();
    await waitFor('/ready to be 200 on both instances', async () => {
      const states = await readyByInstance();
      return states.size === 2 && [...states.values()].every((s) => s === 200);
    }, 30_000);

    const seenA = collect(a.socket, 'message');
    const seenB = collect(b.socket, 'message');
    const stored = (await (await post(cluster, 'outage', { body: 'after outage' }, token)).json()) as StoredMessage;
    await waitFor('delivery across instances after Redis returns', () => seenA.some((m) => m.id === stored.id) && seenB.some((m) => m.id === stored.id), 10_000, 100);

    const after = await cluster.jlist();
    assert.deepEqual(after.map((p) => p.pid).sort(), pidsBefore);
    for (const p of after) assert.equal(p.pm2_env.restart_time, 0, `${p.name} restarted`);
  });
});
