/**
 * The single background process (PM2 fork mode, one instance): runs the scheduled jobs once
 * for the whole deployment and emits to Socket.IO rooms through Redis, never through an
 * API instance.
 */
import { Emitter } from '@socket.io/redis-emitter';
import { detectIdentity } from '../cluster/identity.js';
import { loadConfigOrExit } from '../config/env.js';
import { createDatabase } from '../data/database.js';
import { createMessageRepository } from '../data/message-repository.js';
import { handleProcessEvents } from '../lifecycle/process-events.js';
import { runMain } from '../lifecycle/run-main.js';
import { createShutdown } from '../lifecycle/shutdown.js';
import { createProcessLogger } from '../observability/logger.js';
import { createBroadcaster } from '../realtime/broadcaster.js';
import { closeRedis, createRedis, guardUnawaitedCommands } from '../redis/client.js';
import { pruneMessagesJob } from './jobs/prune-messages.js';
import { roomStatsJob } from './jobs/room-stats.js';
import { startScheduler } from './scheduler.js';

const config = loadConfigOrExit();
const identity = detectIdentity();
const logger = createProcessLogger(config, { role: 'worker', instanceId: identity.instanceId });

runMain(logger, () => {
  const database = createDatabase({
    url: config.db.url,
    poolMax: config.db.workerPoolMax,
    poolTimeoutMs: config.db.poolTimeoutMs,
    statementTimeoutMs: config.db.statementTimeoutMs,
    applicationName: 'worker',
    logger,
  });
  const redis = createRedis(config.redis.url, { name: 'worker', logger });
  const broadcaster = createBroadcaster(new Emitter(guardUnawaitedCommands(redis, logger), { key: `${config.redis.keyPrefix}socket.io` }));
  const messages = createMessageRepository(database.prisma);

  const scheduler = startScheduler({
    redis,
    keyPrefix: config.redis.keyPrefix,
    logger,
    jobs: [
      roomStatsJob({ messages, broadcaster, intervalMs: config.worker.statsIntervalMs }),
      pruneMessagesJob({ messages, retentionDays: config.worker.retentionDays, intervalMs: config.worker.pruneIntervalMs, logger }),
    ],
  });

  const shutdown = createShutdown({
    logger,
    timeoutMs: config.shutdown.timeoutMs,
    steps: [
      { name: 'scheduler', run: () => scheduler.stop() },
      { name: 'redis', run: () => closeRedis(redis) },
      { name: 'database', run: () => database.close() },
    ],
  });
  handleProcessEvents(logger, shutdown);
  logger.info(`Background worker started (pid ${process.pid})`);
  process.send?.('ready');
});
