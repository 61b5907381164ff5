import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTokenService } from '../src/auth/jwt.js';
import { apiShare, workerReserve, type BudgetSettings, type ShareMember } from '../src/cluster/pool-share.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { databaseLoad, sampleConnections } from './helpers/budget.js';
import { sample, startCluster, type Cluster } from './helpers/cluster.js';
import { postMessage } from './helpers/realtime.js';
import { createTestDatabase, privateRedis, sleep, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);

interface Info {
  instances: number;
  db: { poolMax: number; budget: number; pool: { open: number } };
  members: { role: string; claim: number; pool: { open: number } }[];
}

async function info(api: TestApi): Promise<Info> {
  return (await (await fetch(`${api.url}/api/cluster-info`, { signal: AbortSignal.timeout(5000) })).json()) as Info;
}

describe('the budget split among live members (in-process instances sharing a database and Redis)', () => {
  let db: TestDatabase;
  const apis: TestApi[] = [];
  before(async () => {
    db = await createTestDatabase({ migrated: true });
  });
  after(async () => {
    await Promise.all(apis.map((api) => api.stop()));
    await db.drop();
  });

  it('four instances joining at once never claim more than the budget, then each holds floor((budget - worker) / 4)', async () => {
    const env = { REDIS_KEY_PREFIX: `${uniqueName('t')}:`, DB_CONNECTION_BUDGET: '9' };
    const first = await startTestApi(db.url, env);
    apis.push(first);
    let peakClaims = 0;
    const sampling = { running: true };
    const claims = (async () => {
      while (sampling.running) {
        const { members } = await info(first);
        peakClaims = Math.max(peakClaims, members.reduce((sum, m) => sum + m.claim, 0));
        await sleep(20);
      }
    })();
    let settled: Info[];
    try {
      apis.push(...(await Promise.all([1, 2, 3].map(() => startTestApi(db.url, env)))));
      settled = await waitFor('every instance at its share of 2', async () => {
        const infos = await Promise.all(apis.map(info));
        return infos.every((i) => i.instances === 4 && i.db.poolMax === 2) ? infos : undefined;
      });
    } finally {
      sampling.running = false;
      await claims;
    }
    assert.ok(peakClaims <= 9, `claims peaked at ${peakClaims}`);
    assert.deepEqual(settled.map((i) => i.db.poolMax), [2, 2, 2, 2]);

    await Promise.all(apis.splice(1).map((api) => api.stop()));
    await waitFor('the one left to grow back to 8', async () => (await info(first)).db.poolMax === 8);
  });

  it('DB_POOL_MAX overrides the split and warns when the pools can exceed the budget', async () => {
    const api = await startTestApi(db.url, { DB_CONNECTION_BUDGET: '6', DB_POOL_MAX: '8' });
    apis.push(api);
    assert.equal((await info(api)).db.poolMax, 8);
    const warning = api.logs.find((l) => l.event === 'db-budget-exceeded');
    assert.equal(warning?.level, 'warn');
    assert.deepEqual([warning.poolMax, warning.budget, warning.apiInstances], [8, 6, 1]);

    const within = await startTestApi(db.url, { DB_CONNECTION_BUDGET: '6', DB_POOL_MAX: '3' });
    apis.push(within);
    assert.equal((await info(within)).db.poolMax, 3);
    assert.equal(within.logs.filter((l) => l.event === 'db-budget-exceeded').length, 0);

    // Under 30 concurrent reads it opens all 3 connections and never a fourth.
    const load = databaseLoad([within.url], 30);
    let peakOpen = 0;
    try {
      await waitFor('the pool to fill under load', async () => {
        const { pool } = (await info(within)).db;
        peakOpen = Math.max(peakOpen, pool.open);
        return load.completed() >= 300 && peakOpen >= 3;
      }, 20_000, 20);
    } finally {
      const report = await load.stop();
      assert.deepEqual(Object.keys(report.byStatus), ['200'], JSON.stringify(report.byStatus));
    }
    assert.equal(peakOpen, 3);
  });

  it('keeps its pool size while Redis is unreachable and grows only once it is back', async () => {
    const redis = await privateRedis();
    await redis.start();
    try {
      const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `${uniqueName('t')}:`, DB_CONNECTION_BUDGET: '7' };
      const [a, b] = [await startTestApi(db.url, env), await startTestApi(db.url, env)];
      apis.push(a, b);
      await waitFor('both at a share of 3', async () => (await info(a)).db.poolMax === 3 && (await info(b)).db.poolMax === 3);

      await redis.kill();
      await b.stop();
      await waitFor('the outage to be noticed', () => a.logs.some((l) => l.event === 'membership-unreachable'));
      await sleep(2500);
      assert.equal((await info(a)).db.poolMax, 3, 'no growth without Redis, though the other instance left');

      await redis.start();
      await waitFor('growth to 6 once Redis answers', async () => (await info(a)).db.poolMax === 6, 20_000);
      assert.ok(a.logs.some((l) => l.event === 'membership-restored'));
    } finally {
      await redis.kill();
    }
  });
});

describe('database connection budget', () => {
  let cluster: Cluster;
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    cluster = await startCluster({
      instances: 2,
      databaseUrl: db.url,
      // One user writes 100 times at once here: the write limit would answer 429 before the database is asked.
      env: { DB_CONNECTION_BUDGET: '6', DB_POOL_TIMEOUT_MS: '500', DB_STATEMENT_TIMEOUT_MS: '3000', WRITE_RATE_LIMIT: '0' },
    });
  });
  after(async () => {
    await cluster.stop();
    await db.drop();
  });

  async function burst(n: number, token: string) {
    return Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const res = i % 2 === 0 ? await postMessage(cluster.baseUrl, 'budget', { body: `m${i}` }, token) : await fetch(`${cluster.baseUrl}/api/rooms/budget/messages?limit=5`, { signal: AbortSignal.timeout(15_000) });
        const body = (await res.json()) as { error?: { code: string } };
        return { status: res.status, code: body.error?.code };
      }),
    );
  }

  it('reports each instance\'s share of the budget', async () => {
    const infos = await sample<{ db: { poolMax: number; budget: number } }>(cluster.baseUrl, '/api/cluster-info', 4);
    for (const info of infos) assert.deepEqual({ poolMax: info.db.poolMax, budget: info.db.budget }, { poolMax: 2, budget: 6 });
  });

  // What the design allows this cluster (2 API instances and the worker, budget 6): the
  // worker's pool, and each API instance's share of the rest. The budget is the ceiling; the
  // split can leave a connection of it unused (here floor(5 / 2) = 2 each: 5 of 6).
  const settings: BudgetSettings = { budget: 6, poolMax: undefined, workerPool: 1 };
  const members: ShareMember[] = [{ role: 'api', pool: { want: 0 } }, { role: 'api', pool: { want: 0 } }, { role: 'worker', pool: { want: 1 } }];
  const designBound = 2 * apiShare(settings, members) + workerReserve(settings, members);

  it('200 concurrent database requests all succeed or get 503, within the connections the split allows (5)', async (t) => {
    assert.equal(designBound, 5);
    const token = await tokens.sign('budget');
    const sampler = sampleConnections(db.name);
    const results = await burst(200, token);
    const peak = await sampler.stop();
    for (const r of results) assert.ok([200, 201, 503].includes(r.status), `unexpected ${r.status}`);
    t.diagnostic(`peak ${peak} connections; ${results.filter((r) => r.status === 503).length} of 200 answered 503`);
    // Short queries on 4 API connections, each waiting up to DB_POOL_TIMEOUT_MS (500 ms) for one: most are served.
    assert.ok(results.filter((r) => r.status !== 503).length >= 100, 'at least half were served');
    assert.ok(results.filter((r) => r.status === 503).every((r) => r.code === 'DATABASE_BUSY'), 'a 503 is only ever "no free connection"');
    assert.ok(peak > 0 && peak <= designBound, `peak connections ${peak}`);
  });

  it('a saturated pool answers 503 DATABASE_BUSY instead of hanging, still within the budget', async (t) => {
    const token = await tokens.sign('budget');
    // Another session holds the table, as a long migration or a stuck transaction would.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
    const sampler = sampleConnections(db.name, [lockerPid]);
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
    assert.ok(peak <= designBound, `peak connections ${peak}`);
  });
});
