/**
 * The entry PM2 runs in every API instance (and node:cluster in every worker): reads config,
 * builds the dependencies, the app and the server, wires signals, and tells PM2 when ready.
 */
import { createTokenService } from './auth/jwt.js';
import { detectIdentity } from './cluster/identity.js';
import { loadConfigOrExit } from './config/env.js';
import { createDatabase } from './data/database.js';
import { createMessageRepository } from './data/message-repository.js';
import { apiPoolMax, exceedsBudget } from './data/pool-budget.js';
import { buildApp } from './http/app.js';
import { createHttpServer } from './lifecycle/http-server.js';
import { handleProcessEvents } from './lifecycle/process-events.js';
import { createReadiness } from './lifecycle/readiness.js';
import { signalReadyWhenServing } from './lifecycle/ready-signal.js';
import { runMain } from './lifecycle/run-main.js';
import { createShutdown } from './lifecycle/shutdown.js';
import { clusterMetrics } from './observability/cluster-metrics.js';
import { httpMetrics, type RequestObserver } from './observability/http-metrics.js';
import { createProcessLogger } from './observability/logger.js';
import { createMetricsRegistry } from './observability/metrics.js';
import { startPm2Metrics } from './observability/pm2-metrics.js';
import { createBroadcaster } from './realtime/broadcaster.js';
import { createRealtime } from './realtime/socket-server.js';
import { closeRedis, createRedis } from './redis/client.js';

const config = loadConfigOrExit();
const identity = detectIdentity();
const logger = createProcessLogger(config, { role: 'api', instanceId: identity.instanceId });

runMain(logger, async () => {
  const budget = { budget: config.db.connectionBudget, poolMax: config.db.poolMax, workerReserve: config.db.workerPoolMax };
  const poolMax = apiPoolMax(budget, identity.instanceCount);
  const database = createDatabase({
    url: config.db.url,
    poolMax,
    poolTimeoutMs: config.db.poolTimeoutMs,
    statementTimeoutMs: config.db.statementTimeoutMs,
    applicationName: `api-${identity.instanceId}`,
    logger,
  });
  logger.info(
    { db: { poolMax, budget: config.db.connectionBudget, instances: identity.instanceCount, workerReserve: config.db.workerPoolMax } },
    `Database pool: up to ${poolMax} connections in this instance (budget ${config.db.connectionBudget} for ${identity.instanceCount} instances + worker)`,
  );
  if (exceedsBudget(budget, identity.instanceCount)) {
    logger.warn('DB_POOL_MAX or the instance count makes the pools exceed DB_CONNECTION_BUDGET; see docs/database.md');
  }

  const redis = createRedis(config.redis.url, { name: 'api', logger });
  const tokens = createTokenService(config.auth.jwtSecret);
  const realtime = createRealtime({
    redisAdapter: config.socket.redisAdapter,
    redisUrl: config.redis.url,
    channelKey: `${config.redis.keyPrefix}socket.io`,
    allowPolling: config.socket.allowPolling,
    corsOrigin: config.socket.corsOrigin,
    identity,
    tokens,
    logger,
  });
  const readiness = createReadiness(
    {
      database: () => database.ping(config.readiness.timeoutMs),
      redis: async () => {
        // While disconnected, ioredis would queue the PING; answer "not ready" at once instead.
        if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
        await redis.ping();
      },
    },
    config.readiness.timeoutMs,
  );

  const observers: RequestObserver[] = [];
  const requestMetrics = httpMetrics(observers);
  const gauges = { poolStats: () => database.poolStats(), socketClients: () => realtime.info().connectedClients, inFlight: requestMetrics.inFlight };
  const metrics = createMetricsRegistry(identity, gauges);
  observers.push(metrics);
  if (identity.processManager === 'pm2') observers.push(startPm2Metrics(gauges));

  const app = buildApp({
    config,
    identity,
    logger,
    readiness,
    tokens,
    messages: createMessageRepository(database.prisma),
    broadcaster: createBroadcaster(realtime.io),
    requestMetrics: requestMetrics.middleware,
    clusterMetrics: clusterMetrics(realtime.io, metrics.registry, { hostname: identity.hostname, crossInstance: config.socket.redisAdapter }),
    runtimeInfo: () => ({
      db: { poolMax, budget: config.db.connectionBudget, pool: database.poolStats() },
      socket: realtime.info(),
    }),
  });
  const http = createHttpServer(app, { keepAliveTimeoutMs: config.http.keepAliveTimeoutMs });
  realtime.attach(http.server);

  const shutdown = createShutdown({
    logger,
    timeoutMs: config.shutdown.timeoutMs,
    steps: [
      { name: 'readiness', run: () => { readiness.markShuttingDown(); } },
      {
        name: 'http',
        run: async () => {
          const drained = http.drain();
          // WebSocket connections would hold the drain open; their clients reconnect elsewhere.
          realtime.disconnectLocal();
          await drained;
        },
      },
      { name: 'socket.io', run: () => realtime.close() },
      { name: 'redis', run: () => closeRedis(redis) },
      { name: 'database', run: () => database.close() },
    ],
  });
  handleProcessEvents(logger, shutdown);

  try {
    await http.listen(config.http.port, config.http.host);
  } catch (error) {
    logger.fatal({ err: error }, `Cannot listen on ${config.http.host}:${config.http.port}`);
    await shutdown('listen failed', 1);
  }
  logger.info(`Server listening on http://${config.http.host}:${config.http.port} (Instance: ${identity.instanceId})`);
  await signalReadyWhenServing(readiness, logger);
});
