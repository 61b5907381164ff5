import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import type { StoredMessage } from '../src/messages/schema.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { collect, connect, connectToTwoInstances, join, postMessage, type TestSocket } from './helpers/realtime.js';
import { createTestDatabase, sleep, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);

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

    const res = await postMessage(cluster.baseUrl, 'lobby', { body: 'hello cluster' }, token);
    assert.equal(res.status, 201);
    const stored = (await res.json()) as StoredMessage;
    assert.equal(stored.author, 'alice');
    assert.equal(stored.room, 'lobby');

    await waitFor('both members to receive the message', () => seenA.length > 0 && seenB.length > 0, 5000, 50);
    await sleep(750); // room for a duplicate to show up
    // Each copy names the instance that took the POST: one of the two, the same on both sides.
    const origin = seenA[0]?.origin;
    assert.ok(origin && [a.hello.pid, b.hello.pid].includes(origin.pid), `origin ${JSON.stringify(origin)}`);
    assert.equal(res.headers.get('x-instance-id'), String(origin.instanceId));
    assert.deepEqual(seenA, [{ ...stored, origin }]);
    assert.deepEqual(seenB, [{ ...stored, origin }]);
    assert.deepEqual(seenOutsider, []);
  });

  it('delivers the worker\'s scheduled room stats to clients on both instances', async () => {
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    await join(a.socket, 'stats-room');
    await join(b.socket, 'stats-room');
    const statsA = collect(a.socket, 'stats');
    const statsB = collect(b.socket, 'stats');
    assert.equal((await postMessage(cluster.baseUrl, 'stats-room', { body: 'activity' }, token)).status, 201);
    await waitFor('stats on both instances', () => statsA.length > 0 && statsB.length > 0, 10_000, 100);
    for (const stats of [...statsA, ...statsB]) {
      assert.equal(stats.room, 'stats-room');
      assert.ok(stats.messages >= 1);
      // Each window starts where the last ended: the interval plus the time a tick takes.
      assert.ok(stats.windowMs >= 1000, `windowMs ${stats.windowMs}`);
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
    assert.ok(cluster.logLines().some((l) => l.event === 'socket-adapter' && l.adapter === 'redis'));
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
