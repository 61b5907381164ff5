/**
 * The background worker: runs the scheduled jobs once for the whole deployment and emits to
 * Socket.IO rooms through Redis, never through an API instance. `startWorker` returns once
 * the schema is checked, it has joined the cluster membership and the jobs are scheduled;
 * `stop` waits for a running job, closes the database, leaves the membership, then closes Redis.
 */
import { Emitter } from '@socket.io/redis-emitter';
import { detectIdentity } from './cluster/identity.js';
import { joinCluster } from './cluster/membership.js';
import { createMembershipStore } from './cluster/membership-store.js';
import type { Config } from './config/env.js';
import { packageInfo } from './config/package-info.js';
import { createDatabase } from './data/database.js';
import { MIGRATIONS_DIR } from './data/migrator.js';
import { createSchemaGate } from './data/schema-check.js';
import { createStop } from './lifecycle/shutdown.js';
import { createBroadcaster } from './messages/broadcaster.js';
import { pruneMessagesJob, roomStatsJob } from './messages/jobs.js';
import { createMessageRepository } from './messages/repository.js';
import { createProcessLogger, type Logger } from './observability/logger.js';
import type { Tracing } from './observability/tracing.js';
import { guardUnawaitedCommands } from './redis/client.js';
import { createRedisConnections } from './redis/connections.js';
import { createJobCursor } from './scheduler/job-cursor.js';
import { startScheduler } from './scheduler/scheduler.js';

const DAY_MS = 86_400_000;

export interface RunningWorker {
  stop(): Promise<boolean>;
}

export async function startWorker(config: Config, options: { logger?: Logger; tracing?: Tracing | undefined } = {}): Promise<RunningWorker> {
  const { instanceId } = detectIdentity();
  const logger = options.logger ?? createProcessLogger(config, { role: 'worker', instanceId });
  // Sized by the cluster membership: its pool comes off the top of the budget.
  const database = createDatabase({
    url: config.db.url,
    poolMax: 0,
    poolTimeoutMs: config.db.poolTimeoutMs,
    statementTimeoutMs: config.db.statementTimeoutMs,
    applicationName: 'worker',
    logger,
  });
  const schema = createSchemaGate(database.prisma, MIGRATIONS_DIR, logger);
  const redis = createRedisConnections(config.redis, { role: 'worker', logger, subscriber: false });
  const membership = await joinCluster({
    store: createMembershipStore(redis.commands, { keyPrefix: config.redis.keyPrefix, scope: config.db.scope }),
    self: { host: config.cluster.hostId, role: 'worker', instanceId, version: packageInfo.version },
    settings: { budget: config.db.connectionBudget, poolMax: config.db.poolMax, workerPool: config.db.workerPoolMax },
    pool: { stats: () => database.poolStats(), resize: (max) => { database.resize(max); } },
    logger,
  });
  // Once the pool has its share: a schema older than this build refuses the start.
  try {
    await schema.start();
  } catch (error) {
    await database.close();
    await membership.leave();
    await redis.close();
    throw error;
  }
  const broadcaster = createBroadcaster(new Emitter(guardUnawaitedCommands(redis.commands, logger), { key: config.redis.socketChannel }));
  const messages = createMessageRepository(database.prisma);

  const scheduler = startScheduler({
    redis: redis.commands,
    keyPrefix: config.redis.keyPrefix,
    logger,
    tracing: options.tracing,
    // A job never runs against a schema it has not seen to be current.
    jobs: [
      roomStatsJob({
        messages,
        broadcaster,
        intervalMs: config.worker.statsIntervalMs,
        // Outlives any restart or redeploy of the worker; after a longer stop the next window is one interval.
        cursor: createJobCursor(redis.commands, `${config.redis.keyPrefix}job:room-stats:window-end`, { ttlMs: Math.max(DAY_MS, 2 * config.worker.statsIntervalMs) }),
        logger,
      }),
      pruneMessagesJob({ messages, retentionDays: config.worker.retentionDays, intervalMs: config.worker.pruneIntervalMs, logger }),
    ].map((job) => ({ ...job, run: async (lease) => { await schema.check(); await job.run(lease); } })),
  });
  logger.info({ event: 'worker-started' }, `Background worker started (pid ${process.pid})`);

  return {
    stop: createStop(
      [
        { name: 'scheduler', run: () => scheduler.stop() },
        { name: 'database', run: () => database.close() },
        { name: 'membership', run: () => membership.leave() },
        { name: 'redis', run: () => redis.close() },
        ...(options.tracing ? [{ name: 'tracing', run: () => options.tracing?.shutdown() }] : []),
      ],
      logger,
      // Every step ends before the shutdown deadline (half a second kept for the exit).
      { timeoutMs: config.shutdown.timeoutMs - 500 },
    ),
  };
}
