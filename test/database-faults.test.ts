import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTokenService } from '../src/auth/jwt.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { assertEveryoneHoldsAll, follow, joined, startWriter, type Follower } from './helpers/followers.js';
import { privatePostgres, type PrivatePostgres } from './helpers/postgres.js';
import { postMessage } from './helpers/realtime.js';
import { adminQuery, sleep, TEST_JWT_SECRET, waitFor } from './helpers/services.js';

/**
 * When PostgreSQL falters, nothing is missed and answers come within the documented bounds
 * (docs/realtime.md and docs/database.md). Two PM2 instances on a private PostgreSQL the test
 * stops and locks, followers using the recipe's own code (public/js/room-feed.js).
 */

const tokens = createTokenService(TEST_JWT_SECRET);
// The documented bounds: a query waits at most DB_POOL_TIMEOUT_MS (3 s) for a connection, then
// runs at most DB_STATEMENT_TIMEOUT_MS (10 s).
const POOL_WAIT_MS = 3000;
const STATEMENT_MS = 10_000;

let postgres: PrivatePostgres;
let cluster: Cluster;
const followers: Follower[] = [];
before(async () => {
  postgres = await privatePostgres();
  await postgres.start();
  await adminQuery('CREATE DATABASE app', [], postgres.adminUrl);
  cluster = await startCluster({ instances: 2, databaseUrl: postgres.urlOf('app'), apiOnly: true, env: { WRITE_RATE_LIMIT: '0', NODE_ENV: 'production' } });
});
after(async () => {
  for (const f of followers) f.stop();
  await cluster.stop();
  await postgres.destroy();
});

describe('PostgreSQL stopped, both instances killed, PostgreSQL back 15 s later', () => {
  it('every follower ends with every acknowledged message exactly once', async () => {
    const room = 'pg-outage';
    const group = await Promise.all([0, 1, 2].map(async (i) => follow(cluster.baseUrl, room, await tokens.sign(`reader-${i}`))));
    followers.push(...group);
    await joined(group);
    const writer = startWriter(cluster.baseUrl, room, await tokens.sign('writer'), 150);
    try {
      await waitFor('messages before the outage', () => writer.posted.length >= 10, 20_000, 50);
      await postgres.stop();
      const downAt = Date.now();
      for (const p of await cluster.jlist()) if (p.name === 'api') process.kill(p.pid, 'SIGKILL');
      // The followers' rejoins are refused ("Database is unavailable") while it is down.
      await waitFor('a refused rejoin', () => group.some((f) => f.statuses.some((s) => !s.joined && s.error?.includes('Database is unavailable'))), 30_000, 100);
      await sleep(Math.max(0, 15_000 - (Date.now() - downAt)));
      await postgres.start();
      const upAt = writer.posted.length;
      await waitFor('messages after PostgreSQL returns', () => writer.posted.length >= upAt + 20, 40_000, 100);
    } finally {
      await writer.stop();
    }
    await assertEveryoneHoldsAll(group, writer.posted);
    for (const f of group) f.stop();
  });
});

describe('an ACCESS EXCLUSIVE lock on messages for 10 s', () => {
  it(`answers every write within ${(POOL_WAIT_MS + STATEMENT_MS) / 1000} s (+2 s): stored, DATABASE_BUSY or DATABASE_TIMEOUT; /ready answers within its timeout`, async () => {
    const token = await tokens.sign('writer');
    await waitFor('the cluster to store writes', async () => (await postMessage(cluster.baseUrl, 'locked', { body: 'warm' }, token)).status === 201, 40_000, 200);
    const locker = new pg.Client({ connectionString: postgres.urlOf('app') });
    await locker.connect();
    const writes: { status: number; code: string; ms: number }[] = [];
    const ready: { status: number; ms: number }[] = [];
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      const lockedAt = Date.now();
      const probing = (async () => {
        while (Date.now() - lockedAt < 12_000) {
          const started = Date.now();
          const res = await fetch(`${cluster.baseUrl}/ready`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(20_000) });
          await res.arrayBuffer();
          ready.push({ status: res.status, ms: Date.now() - started });
          await sleep(500);
        }
      })();
      await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          await sleep(i * 200);
          const started = Date.now();
          const res = await postMessage(cluster.baseUrl, 'locked', { body: `w${i}` }, token, { timeoutMs: 30_000, headers: { connection: 'close' } });
          const body = (await res.json()) as { error?: { code: string } };
          writes.push({ status: res.status, code: body.error?.code ?? '', ms: Date.now() - started });
        }),
      );
      await probing;
    } finally {
      await locker.query('COMMIT').catch(() => undefined);
      await locker.end();
    }
    const slowest = Math.max(...writes.map((w) => w.ms));
    const codes = [...new Set(writes.map((w) => `${w.status} ${w.code}`))].join(', ');
    console.log(`lock: ${writes.length} writes (${codes}), slowest ${slowest} ms; /ready ${ready.map((r) => `${r.status}/${r.ms}ms`).join(' ')}`);
    assert.equal(writes.length, 30);
    for (const w of writes) {
      assert.ok(w.status === 201 || (w.status === 503 && ['DATABASE_BUSY', 'DATABASE_TIMEOUT'].includes(w.code)), `answer ${w.status} ${w.code}`);
    }
    assert.ok(slowest < POOL_WAIT_MS + STATEMENT_MS + 2000, `slowest write ${slowest} ms`);
    assert.ok(writes.some((w) => w.code === 'DATABASE_TIMEOUT'), `the lock held writes up to the statement timeout (${codes})`);
    for (const r of ready) assert.ok(r.ms < 3000, `/ready answered in ${r.ms} ms`);
  });
});
