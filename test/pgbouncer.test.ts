import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTokenService } from '../src/auth/jwt.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { ab } from './helpers/load.js';
import { startPgBouncer, type PrivatePgBouncer } from './helpers/pgbouncer.js';
import { adminQuery, createTestDatabase, sleep, TEST_JWT_SECRET, type TestDatabase } from './helpers/services.js';

/**
 * The app behind PgBouncer (Debian's package) in transaction mode, with the settings of
 * deploy/pgbouncer/pgbouncer.ini and docs/database.md: DB_STATEMENT_TIMEOUT_MS=0 in the app,
 * statement_timeout set on the role in PostgreSQL. PgBouncer's pool is cut to 3 server
 * connections here, so the app's 12-connection pool has to be multiplexed.
 */
const SERVER_POOL = 3;
const STATEMENT_TIMEOUT_MS = 500;

describe('behind PgBouncer in transaction mode', () => {
  let db: TestDatabase;
  let bouncer: PrivatePgBouncer;
  let api: TestApi;

  before(async () => {
    db = await createTestDatabase({ migrated: true });
    // As docs/database.md says to: the timeout on the app's role, in its database only (the
    // setting goes with the database when the test drops it).
    await adminQuery(`ALTER ROLE postgres IN DATABASE "${db.name}" SET statement_timeout = '${STATEMENT_TIMEOUT_MS}ms'`);
    bouncer = await startPgBouncer(db.name, { default_pool_size: String(SERVER_POOL), reserve_pool_size: '0', max_db_connections: String(SERVER_POOL) });
    api = await startTestApi(bouncer.url, { DB_STATEMENT_TIMEOUT_MS: '0', DB_POOL_MAX: '12', WRITE_RATE_LIMIT: '0' });
  });
  after(async () => {
    await api.stop();
    await bouncer.stop();
    await db.drop();
  });

  it('refuses statement_timeout as a startup parameter, which is why the app sends none there', async () => {
    const client = new pg.Client({ connectionString: bouncer.url, statement_timeout: 1000 });
    await assert.rejects(client.connect(), /unsupported startup parameter: statement_timeout/);
    await client.end().catch(() => undefined);
  });

  it('serves reads and writes under load with no failure, over at most 3 server connections', async (t) => {
    const token = await createTokenService(TEST_JWT_SECRET).sign('loader');
    let peak = 0;
    const sampling = new AbortController();
    const sampler = (async () => {
      while (!sampling.signal.aborted) {
        const [row] = await adminQuery<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()", [db.name]);
        peak = Math.max(peak, row?.n ?? 0);
        await sleep(20);
      }
    })();
    const writes = (async () => {
      const statuses: number[] = [];
      for (let round = 0; round < 20; round += 1) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, async (_, i) => (await fetch(`${api.url}/api/rooms/bouncer/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ body: `m${round}-${i}` }) })).status),
        );
        statuses.push(...batch);
      }
      return statuses;
    })();
    const reads = await ab(`${api.url}/api/rooms/bouncer/messages?limit=20`, { concurrency: 24, seconds: 8 });
    const written = await writes;
    sampling.abort();
    await sampler;
    const info = (await (await fetch(`${api.url}/api/cluster-info`)).json()) as { db: { pool: { total: number } } };
    t.diagnostic(`ab: ${reads.complete} reads, ${reads.failed} failed, ${reads.non2xx} non-2xx, ${reads.requestsPerSecond} req/s; ${written.length} writes; app pool ${info.db.pool.total} connections to PgBouncer; peak ${peak} PostgreSQL connections`);
    assert.ok(reads.complete > 200, `too little load to mean anything: ${reads.raw}`);
    assert.equal(reads.failed, 0, reads.raw);
    assert.equal(reads.non2xx, 0, reads.raw);
    assert.deepEqual(new Set(written), new Set([201]));
    assert.ok(info.db.pool.total > SERVER_POOL, `the app opened ${info.db.pool.total} client connections`);
    assert.ok(peak > 0 && peak <= SERVER_POOL, `peak ${peak} server connections`);
  });

  it('enforces statement_timeout: a longer statement through PgBouncer is cancelled', async () => {
    const client = new pg.Client({ connectionString: bouncer.url });
    await client.connect();
    try {
      assert.equal((await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]?.statement_timeout, `${STATEMENT_TIMEOUT_MS}ms`);
      const started = Date.now();
      await assert.rejects(client.query('SELECT pg_sleep(5)'), (error: { code?: string; message: string }) => error.code === '57014' && /canceling statement due to statement timeout/.test(error.message));
      assert.ok(Date.now() - started < 3000);
    } finally {
      await client.end();
    }
  });

  it('enforces it on the app\'s own queries: a write stuck behind a lock is answered 503 after the timeout, not held', async () => {
    const token = await createTokenService(TEST_JWT_SECRET).sign('writer');
    // A session straight to PostgreSQL holds the table, as a long migration would.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const res = await fetch(`${api.url}/api/rooms/bouncer/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ body: 'stuck' }) });
      const elapsed = Date.now() - started;
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'DATABASE_TIMEOUT');
      assert.ok(elapsed >= STATEMENT_TIMEOUT_MS - 50 && elapsed < 5000, `answered after ${elapsed} ms`);
      const logged = api.logs.find((l) => JSON.stringify(l).includes('canceling statement due to statement timeout'));
      assert.ok(logged, 'the log keeps PostgreSQL\'s reason');
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    const after = await fetch(`${api.url}/api/rooms/bouncer/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ body: 'free again' }) });
    assert.equal(after.status, 201);
  });
});
