import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { createTokenService } from '../src/auth/jwt.js';
import { createDatabase, type Database } from '../src/data/database.js';
import { createBroadcaster } from '../src/messages/broadcaster.js';
import { roomStatsJob } from '../src/messages/jobs.js';
import { createMessageRepository } from '../src/messages/repository.js';
import { createJobCursor } from '../src/scheduler/job-cursor.js';
import { acquireLease } from '../src/scheduler/lease.js';
import { startTestApi, startTestWorker, type LogLine, type TestApi, type TestWorker } from './helpers/api.js';
import { collect, connect, join, postMessage, type TestSocket } from './helpers/realtime.js';
import { adminQuery, createTestDatabase, SHARED_REDIS_URL, sleep, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);
const DAY_MS = 86_400_000;

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

/** A message stored with the creation time given, as if it had been posted then. */
async function storeAt(room: string, at: number): Promise<void> {
  await adminQuery('INSERT INTO messages (room, author, body, created_at) VALUES ($1, $2, $3, $4)', [room, 'seed', `at ${at}`, new Date(at)], db.url);
}

describe('room-stats windows', () => {
  let api: TestApi;
  let redis: Redis;
  let database: Database;
  let socket: TestSocket | undefined;
  before(async () => {
    api = await startTestApi(db.url);
    redis = new Redis(SHARED_REDIS_URL);
    database = createDatabase({ url: db.url, poolMax: 2, poolTimeoutMs: 3000, statementTimeoutMs: 10_000, applicationName: 'test', logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    socket?.close();
    await api.stop();
    await database.close();
    await redis.quit();
  });

  it('meet end to end: a message at a window\'s end is counted once, in the next window, however late that runs', async () => {
    const room = 'boundary';
    const client = await connect(api.url, await tokens.sign('watcher'));
    socket = client.socket;
    await join(socket, room);
    const seen = collect(socket, 'stats');
    // The job as the worker runs it: the real repository, its cursor in Redis, emitting through Redis to the API's sockets.
    const cursor = createJobCursor(redis, `${api.config.redis.keyPrefix}job:room-stats:window-end`, { ttlMs: 60_000 });
    const intervalMs = 100;
    const job = roomStatsJob({
      messages: createMessageRepository(database.prisma),
      broadcaster: createBroadcaster(new Emitter(redis, { key: api.config.redis.socketChannel })),
      intervalMs,
      cursor,
      logger: pino({ level: 'silent' }),
    });
    // This test is the only runner: it holds the job's lock for the whole test.
    const lease = await acquireLease(redis, `${api.config.redis.keyPrefix}lock:job:room-stats`, 60_000);
    assert.ok(lease);
    after(() => {
      lease.end();
    });

    // The previous report ended 10 s ago: one message just before that end, one exactly at it, one now.
    const previousEnd = Date.now() - 10_000;
    assert.equal(await cursor.write(previousEnd, lease), true);
    await storeAt(room, previousEnd - 1);
    await storeAt(room, previousEnd);
    const posted = await fetch(`${api.url}/api/rooms/${room}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokens.sign('writer')}` },
      body: JSON.stringify({ body: 'now' }),
    });
    assert.equal(posted.status, 201);

    await job.run(lease);
    await waitFor('the first report', () => seen.length === 1, 5000, 20);
    const end = await cursor.read();
    assert.ok(end !== undefined);
    assert.deepEqual(seen[0], { room, messages: 2, windowMs: end - previousEnd, at: new Date(end).toISOString() }, 'from the previous end on: the message at it and the one now, not the one before');

    // A message exactly at that end, and the next tick more than an interval later (a slow run, a busy event loop).
    await storeAt(room, end);
    await waitFor('more than an interval to pass', () => Date.now() > end + 3 * intervalMs, 5000, 20);
    await job.run(lease);
    await waitFor('the second report', () => seen.length === 2, 5000, 20);
    const nextEnd = await cursor.read();
    assert.ok(nextEnd !== undefined);
    assert.deepEqual(seen[1], { room, messages: 1, windowMs: nextEnd - end, at: new Date(nextEnd).toISOString() });
  });
});

describe('the job lock', () => {
  it('a run whose lock was taken over commits nothing and learns it lost the lock', async () => {
    const redis = new Redis(SHARED_REDIS_URL);
    const prefix = `${uniqueName('t')}:`;
    try {
      const lease = await acquireLease(redis, `${prefix}lock`, 300);
      assert.ok(lease);
      assert.equal(await acquireLease(redis, `${prefix}lock`, 300), undefined, 'held: a second run is refused');
      const cursor = createJobCursor(redis, `${prefix}cursor`, { ttlMs: 60_000 });
      assert.equal(await cursor.write(1, lease), true);
      // Another worker took the lock (ours lapsed while Redis was out of reach, say).
      await redis.set(`${prefix}lock`, 'another-run');
      assert.equal(await cursor.write(2, lease), false);
      assert.equal(await cursor.read(), 1);
      await waitFor('the renewal to notice', () => lease.signal.aborted, 2000, 20);
      lease.end();
    } finally {
      await redis.quit();
    }
  });
});

describe('the background worker\'s jobs', () => {
  const workers: TestWorker[] = [];
  after(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
  });

  const ran = (worker: TestWorker, job: string, event: string) => worker.logs.filter((l: LogLine) => l.job === job && l.event === event).length;

  it('two workers on one Redis prefix run each tick of a job once between them', async () => {
    const intervalMs = 200;
    const env = { REDIS_KEY_PREFIX: `${uniqueName('t')}:`, LOG_LEVEL: 'debug', WORKER_STATS_INTERVAL_MS: String(intervalMs), WORKER_PRUNE_INTERVAL_MS: String(DAY_MS) };
    const started = Date.now();
    const pair = [await startTestWorker(db.url, env), await startTestWorker(db.url, env)];
    workers.push(...pair);
    const total = (event: string) => pair.reduce((sum, worker) => sum + ran(worker, 'room-stats', event), 0);
    await waitFor('six runs, and ticks the other worker held', () => total('job-finished') >= 6 && total('job-skipped') >= 3, 20_000, 50);
    await Promise.all(pair.map((worker) => worker.stop()));
    const elapsed = Date.now() - started;

    // Each run holds the job's lock for an interval, so runs are at least an interval apart
    // whichever worker makes them; two workers without the lock would make about twice as many.
    const runs = total('job-finished');
    assert.ok(runs <= Math.floor(elapsed / intervalMs) + 1, `${runs} runs in ${elapsed} ms`);
    assert.ok(pair.every((worker) => ran(worker, 'room-stats', 'job-finished') + ran(worker, 'room-stats', 'job-skipped') > 0), 'both workers ticked');
  });

  it('a run slower than its interval keeps the lock: two workers never run it at once, and no window is counted twice', async () => {
    const intervalMs = 300;
    const prefix = `${uniqueName('t')}:`;
    const api = await startTestApi(db.url, { REDIS_KEY_PREFIX: prefix });
    const env = { REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'debug', WORKER_STATS_INTERVAL_MS: String(intervalMs), WORKER_PRUNE_INTERVAL_MS: String(DAY_MS) };
    const pair = [await startTestWorker(db.url, env), await startTestWorker(db.url, env)];
    workers.push(...pair);
    const room = 'slow-job';
    const { socket } = await connect(api.url, await tokens.sign('watcher'));
    const locker = new pg.Client({ connectionString: db.url });
    try {
      await join(socket, room);
      const reports = collect(socket, 'stats');
      const token = await tokens.sign('writer');
      const post = async (n: number) => {
        for (let i = 0; i < n; i++) assert.equal((await postMessage(api.url, room, { body: `m${i}` }, token)).status, 201);
      };
      // Three messages, then at once a lock on the table: the next run's query waits on it for many
      // intervals, outliving the run's first lock. Without renewal a second worker would start a
      // run from the same cursor and count these three again.
      await locker.connect();
      await locker.query("INSERT INTO messages (room, author, body) SELECT $1, 'seed', 'before the lock' FROM generate_series(1, 3)", [room]);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      await sleep(8 * intervalMs);
      await locker.query('COMMIT');
      await post(2);
      await waitFor('all five messages reported', () => reports.reduce((sum, r) => sum + r.messages, 0) >= 5, 15_000, 50);
      await sleep(4 * intervalMs);

      // Exactly five, in windows that never overlap: nothing was counted twice.
      assert.equal(reports.reduce((sum, r) => sum + r.messages, 0), 5, JSON.stringify(reports));
      const windows = reports.map((r) => ({ start: Date.parse(r.at) - r.windowMs, end: Date.parse(r.at) }));
      windows.forEach((window, i) => {
        if (i > 0) assert.ok(window.start >= (windows[i - 1]?.end ?? 0), `window ${i} overlaps the one before: ${JSON.stringify(windows)}`);
      });
      // And the runs themselves, across both workers, never overlapped, one of them much longer than the interval.
      const runs = pair
        .flatMap((worker) => worker.logs.filter((l) => l.job === 'room-stats' && l.event === 'job-finished'))
        .map((l) => ({ end: Date.parse(l.time as string), start: Date.parse(l.time as string) - (l.durationMs as number) }))
        .sort((a, b) => a.start - b.start);
      assert.ok(runs.some((r) => r.end - r.start > 3 * intervalMs), `a run held up by the lock: ${JSON.stringify(runs)}`);
      runs.forEach((run, i) => {
        if (i > 0) assert.ok(run.start >= (runs[i - 1]?.end ?? 0) - 5, `runs overlap: ${JSON.stringify(runs.slice(i - 1, i + 1))}`);
      });
      assert.ok(pair.reduce((sum, worker) => sum + ran(worker, 'room-stats', 'job-skipped'), 0) > 0, 'the other worker was kept out');
    } finally {
      await locker.end().catch(() => undefined);
      socket.close();
      await api.stop();
    }
  });

  it('the prune job deletes the messages older than MESSAGE_RETENTION_DAYS, and only those', async () => {
    const room = 'prune';
    const now = Date.now();
    for (const age of [3 * DAY_MS, DAY_MS + 60_000, DAY_MS - 3_600_000, 60_000]) await storeAt(room, now - age);
    const worker = await startTestWorker(db.url, { MESSAGE_RETENTION_DAYS: '1', WORKER_PRUNE_INTERVAL_MS: '1000' });
    workers.push(worker);
    const pruned = await waitFor('a prune', () => worker.logs.find((l) => l.event === 'messages-pruned'), 10_000, 50);
    assert.equal(pruned.deleted, 2);
    const left = await adminQuery<{ created_at: Date }>('SELECT created_at FROM messages WHERE room = $1 ORDER BY created_at', [room], db.url);
    assert.deepEqual(left.map((row) => row.created_at.getTime()), [now - (DAY_MS - 3_600_000), now - 60_000]);
  });
});
