/**
 * One API instance: builds its dependencies, the Express app and the HTTP server with
 * Socket.IO, and listens. The only place that wires the features to the infrastructure.
 * `startApi` returns once the server listens; `stop` closes everything in order and is
 * idempotent. Process concerns (signals, exit codes, PM2's ready message) stay in main.ts,
 * so tests can run any number of instances in one process.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Express, Request } from 'express';
import { devTokenRoutes } from './auth/dev-token-routes.js';
import { createTokenService, handshakeToken } from './auth/jwt.js';
import { createScrapeAccess } from './auth/scrape-access.js';
import { clusterMetrics } from './cluster/cluster-metrics.js';
import { detectIdentity, type ClusterIdentity } from './cluster/identity.js';
import { clusterInfoRoutes } from './cluster/info-routes.js';
import { lastShareFile } from './cluster/last-share.js';
import { joinCluster } from './cluster/membership.js';
import { createMembershipStore } from './cluster/membership-store.js';
import { metricsRoutes } from './cluster/metrics-routes.js';
import type { Config } from './config/env.js';
import { packageInfo, projectRoot } from './config/package-info.js';
import { createDatabase } from './data/database.js';
import { MIGRATIONS_DIR } from './data/migrator.js';
import { createSchemaGate } from './data/schema-check.js';
import { createPeerView } from './health/peer-view.js';
import { healthRoutes } from './health/routes.js';
import { buildApp } from './http/app.js';
import type { RoutesWithContract } from './http/contract.js';
import { debugRoutes } from './http/debug-routes.js';
import { openApiRoutes } from './http/openapi.js';
import { rateLimit } from './http/rate-limit.js';
import { HELMET_OPTIONS, securityHeaders } from './http/security-headers.js';
import { staticFiles } from './http/static-files.js';
import { createHttpServer } from './lifecycle/http-server.js';
import { createReadiness, type Readiness } from './lifecycle/readiness.js';
import { FatalStartError } from './lifecycle/run-main.js';
import { createStop, shutdownBudget } from './lifecycle/shutdown.js';
import { createBroadcaster } from './messages/broadcaster.js';
import { messageServerEvents } from './messages/events.js';
import { createMessageRepository } from './messages/repository.js';
import { messageRoutes } from './messages/routes.js';
import { authorSchema } from './messages/schema.js';
import { createMessageService } from './messages/service.js';
import { resyncAfterFanOutGaps } from './messages/resync.js';
import { registerMessageHandlers } from './messages/socket-handlers.js';
import { observeRequests, type RequestObserver } from './observability/requests.js';
import { accessLog } from './observability/access-log.js';
import { createLogBudget } from './observability/log-budget.js';
import { createProcessLogger, type Logger } from './observability/logger.js';
import { createMetricsRegistry } from './observability/metrics.js';
import { startPm2Metrics } from './observability/pm2-metrics.js';
import type { Tracing } from './observability/tracing.js';
import { createSocketEvents } from './realtime/socket-events.js';
import { browserClientDir } from './realtime/browser-client.js';
import { clientAddressOf } from './realtime/client-address.js';
import { createRealtime, realtimeServerEvents } from './realtime/socket-server.js';
import { createConnectionCap } from './redis/connection-cap.js';
import { createRedisConnections, pingAll } from './redis/connections.js';
import { createRateLimiter } from './redis/rate-limiter.js';

export interface RunningApi {
  /** Where it listens (port 0 in the config picks a free one). */
  address: AddressInfo;
  /** `http://host:port`, for tests and logs. */
  url: string;
  readiness: Readiness;
  /** The Express app, for tests that compare its routes with /openapi.json. */
  app: Express;
  /** Stops in order: readiness, HTTP drain, Socket.IO, database, membership, Redis. Resolves true if every step succeeded. */
  stop(): Promise<boolean>;
}

// Probes only: /metrics is limited like any route (Prometheus scrapes every few seconds at most).
const EXEMPT_FROM_LIMITS = new Set(['/health', '/api/health', '/ready', '/api/ready']);
// The adapter's requestsTimeout (socket-server.ts) and a margin.
const METRICS_COLLECT_TIMEOUT_MS = 2500;
// How often readiness is checked in the background: outages are timed to within this.
const READINESS_WATCH_MS = 1000;
// How long one gathering of the host's metrics serves every scrape (cluster-metrics.ts).
const METRICS_CACHE_MS = 1000;

export interface ApiOptions {
  logger?: Logger;
  identity?: ClusterIdentity;
  /** OpenTelemetry, when the OTEL_* variables turn it on (main.ts starts it before importing this). */
  tracing?: Tracing | undefined;
}

export async function startApi(config: Config, options: ApiOptions = {}): Promise<RunningApi> {
  const identity = options.identity ?? detectIdentity();
  const logger = options.logger ?? createProcessLogger(config, { role: 'api', instanceId: identity.instanceId });
  const { tracing } = options;

  const host = config.cluster.hostId;
  // Sized by the cluster membership below: nothing until this instance has a share of the budget.
  const database = createDatabase({
    url: config.db.url,
    poolMax: 0,
    poolTimeoutMs: config.db.poolTimeoutMs,
    statementTimeoutMs: config.db.statementTimeoutMs,
    applicationName: `api-${identity.instanceId}`,
    logger,
  });
  // Checked before listening (below), and again by readiness until it has passed once.
  const schema = createSchemaGate(database.prisma, MIGRATIONS_DIR, logger);
  const redis = createRedisConnections(config.redis, { role: 'api', logger, subscriber: config.socket.redisAdapter });
  // A token's user becomes a message's author, so it must fit that column.
  // What clients can make this instance log, per second (LOG_LINES_PER_SECOND).
  const logBudget = createLogBudget(logger, config.log.linesPerSecond);
  const tokens = createTokenService(config.auth.jwtSecret, { subject: authorSchema, maxTtlSeconds: config.auth.maxTtlSeconds });
  const realtime = createRealtime({
    redisAdapter: redis.subscriber ? { pub: redis.commands, sub: redis.subscriber, channelKey: config.redis.socketChannel } : undefined,
    allowPolling: config.socket.allowPolling,
    corsOrigin: config.socket.corsOrigin,
    maxPayloadBytes: config.socket.maxPayloadBytes,
    instanceId: identity.instanceId,
    authenticate: (handshake) => tokens.verify(handshakeToken(handshake)),
    tracing,
    // The registry is made below, once realtime can report its clients; a delivery comes later still.
    fanoutDelay: (seconds) => { metrics.fanoutDelay(seconds); },
    accepting: () => readiness.accepting,
    maxPerAddress: config.socket.maxPerAddress,
    clientAddress: clientAddressOf(config.http.trustProxy),
    connectTimeoutMs: config.socket.connectTimeoutMs,
    logBudget,
    connectionCap:
      config.socket.maxPerUser > 0
        ? createConnectionCap({ redis: redis.commands, keyPrefix: `${config.redis.keyPrefix}sockets:`, instanceKeyPrefix: `${config.redis.keyPrefix}socket-instances:`, max: config.socket.maxPerUser, logger })
        : undefined,
    logger,
  });
  const events = createSocketEvents(realtime.io, { eventsPerSecond: config.socket.eventsPerSecond, isProduction: config.isProduction, logger, tracing });
  // Filled below, once the metrics exist; the access log is first, as it always runs.
  const observers: RequestObserver[] = [accessLog(logger, logBudget)];
  const requests = observeRequests(observers, { headers: { 'X-Instance-Id': String(identity.instanceId), ...securityHeaders(HELMET_OPTIONS) } });
  const membership = await joinCluster({
    store: createMembershipStore(redis.commands, { keyPrefix: config.redis.keyPrefix, scope: config.db.scope }),
    self: { host, role: 'api', instanceId: identity.instanceId, version: packageInfo.version },
    settings: { budget: config.db.connectionBudget, poolMax: config.db.poolMax, workerPool: config.db.workerPoolMax },
    pool: { stats: () => database.poolStats(), resize: (max) => { database.resize(max); } },
    sockets: () => realtime.info().connectedClients,
    requestsServed: requests.served,
    logger,
    lastShare: lastShareFile({ scope: config.db.scope, keyPrefix: config.redis.keyPrefix, host, instanceId: identity.instanceId }),
  });
  const readiness = createReadiness(
    {
      database: async () => {
        await database.ping(config.readiness.timeoutMs);
        await schema.check();
      },
      redis: () => pingAll(redis),
    },
    config.readiness.timeoutMs,
    {
      logger,
      exposeErrors: !config.isProduction,
      // Whether an outage is this instance's alone, learnt from the other instances (docs/lifecycle.md "Readiness").
      peers: createPeerView({ id: membership.id, redis: redis.commands, prisma: database.prisma, keyPrefix: config.redis.keyPrefix, scope: config.db.scope }),
    },
  );
  // Its clients reconnect (socket.io-client does so on a closed transport) and land elsewhere, as new connections are refused here.
  readiness.watch(READINESS_WATCH_MS, () => { realtime.disconnectLocal(); });
  // Limits shared by the whole cluster (counted in Redis), per minute; 0 turns one off.
  const limiter = (name: string, limit: number) =>
    limit > 0 ? createRateLimiter({ redis: redis.commands, keyPrefix: `${config.redis.keyPrefix}rl:${name}`, limit, windowSeconds: 60, logger }) : undefined;
  const apiLimiter = limiter('api', config.rateLimit.apiPerAddress);
  const writeLimiter = limiter('write', config.rateLimit.writesPerUser);

  const gauges = {
    poolStats: () => database.poolStats(),
    socketClients: () => realtime.info().connectedClients,
    inFlight: requests.inFlight,
    connectionBudget: config.db.connectionBudget,
    maxMemoryRestartBytes: identity.maxMemoryRestartBytes,
    logLinesDropped: () => logBudget.dropped(),
    dependencies: async () => Object.fromEntries(Object.entries((await readiness.check()).checks).map(([name, check]) => [name, check.status === 'ok'])),
  };
  const metrics = createMetricsRegistry({ instance: identity.instanceId, host }, gauges);
  observers.push(metrics);
  if (identity.processManager === 'pm2') observers.push(startPm2Metrics(gauges));

  const messageRepository = createMessageRepository(database.prisma);
  const messages = createMessageService({
    repository: messageRepository,
    broadcaster: createBroadcaster(realtime.io),
    origin: { instanceId: identity.instanceId, pid: process.pid, host },
  });
  const gaps = resyncAfterFanOutGaps({ realtime, repository: messageRepository, logger });
  registerMessageHandlers(events, { messages, gaps });

  const access = createScrapeAccess({ isProduction: config.isProduction, scrapeToken: config.metrics.token, tokens });
  if (config.isProduction && config.metrics.token === undefined) {
    logger.warn({ event: 'metrics-token-unset' }, 'METRICS_TOKEN is not set: /metrics refuses every scrape in production');
  }
  // Every API router with its contract: /openapi.json describes exactly what is mounted here.
  const mounted: RoutesWithContract[] = [
    healthRoutes({ instanceId: identity.instanceId, readiness, environment: config.env }),
    metricsRoutes(
      clusterMetrics(realtime.io, metrics.registry, { hostname: host, crossInstance: config.socket.redisAdapter, timeoutMs: METRICS_COLLECT_TIMEOUT_MS, cacheMs: METRICS_CACHE_MS }),
      access,
    ),
    clusterInfoRoutes({
      identity,
      host,
      membership,
      runtimeInfo: () => ({ db: { poolMax: membership.poolMax(), budget: config.db.connectionBudget, pool: database.poolStats() }, socket: realtime.info() }),
      access,
    }),
    messageRoutes({ messages, tokens, writeLimit: writeLimiter && rateLimit(writeLimiter, { keyOf: (req: Request) => req.user, what: 'messages from this user' }) }),
    ...(config.http.debugRoutes ? [debugRoutes()] : []),
    ...(config.http.devTokens ? [devTokenRoutes(tokens)] : []),
  ];
  const contract = openApiRoutes({
    title: packageInfo.name,
    version: packageInfo.version,
    mounted,
    socketEvents: { client: events.contracts(), server: { ...realtimeServerEvents, ...messageServerEvents } },
  });

  const app = buildApp({
    trustProxy: config.http.trustProxy,
    bodyLimit: config.http.bodyLimit,
    isProduction: config.isProduction,
    observeRequests: tracing ? tracing.http(requests.middleware) : requests.middleware,
    // Probes and scrapes must never be refused: a load balancer would take the instance out.
    requestLimit: apiLimiter && rateLimit(apiLimiter, { keyOf: (req: Request) => (EXEMPT_FROM_LIMITS.has(req.path) ? undefined : req.ip), what: 'requests from this address' }),
    routers: [
      ...mounted.map((m) => m.router),
      contract.router,
      // The live page (docs/live-page.md), after every API route.
      staticFiles([
        { path: '/', dir: join(projectRoot, 'public') },
        { path: '/vendor/socket.io', dir: browserClientDir() },
      ]),
    ],
  });
  const http = createHttpServer(app, { keepAliveTimeoutMs: config.http.keepAliveTimeoutMs, requestTimeoutMs: config.http.requestTimeoutMs });
  realtime.attach(http.server);

  const budget = shutdownBudget(config.shutdown.timeoutMs);

  const stop = createStop(
    [
      { name: 'readiness', run: () => { readiness.markShuttingDown(); } },
      {
        name: 'http',
        run: async () => {
          const drained = http.drain(budget.drainMs);
          // WebSocket connections would hold the drain open; their clients reconnect elsewhere.
          realtime.disconnectLocal();
          await drained;
        },
      },
      { name: 'socket.io', run: () => realtime.close() },
      { name: 'database', run: () => database.close() },
      // Last but Redis: this instance keeps its share of the budget until its connections are closed.
      { name: 'membership', run: () => membership.leave() },
      { name: 'redis', run: () => redis.close() },
      // Last: the spans of everything above are exported within the shutdown budget.
      ...(tracing ? [{ name: 'tracing', run: () => tracing.shutdown() }] : []),
    ],
    logger,
    { timeoutMs: budget.stopMs },
  );

  // A schema older than this build refuses the start; an unreachable database only defers the check.
  try {
    await schema.start();
  } catch (error) {
    await stop();
    throw error;
  }

  let address: AddressInfo;
  try {
    address = await http.listen(config.http.port, config.http.host);
  } catch (error) {
    await stop();
    throw new FatalStartError(`Cannot listen on ${config.http.host}:${config.http.port}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  logger.info({ event: 'listening', port: address.port }, `Server listening on http://${config.http.host}:${address.port} (Instance: ${identity.instanceId})`);
  return { address, url: `http://${config.http.host}:${address.port}`, readiness, app, stop };
}
