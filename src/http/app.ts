import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { TokenService } from '../auth/jwt.js';
import type { ClusterIdentity } from '../cluster/identity.js';
import type { Config } from '../config/env.js';
import type { MessageRepository } from '../data/message-repository.js';
import type { Readiness } from '../lifecycle/readiness.js';
import type { ClusterMetrics } from '../observability/cluster-metrics.js';
import type { Logger } from '../observability/logger.js';
import { requestLogger } from '../observability/request-logger.js';
import type { Broadcaster } from '../realtime/broadcaster.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { clusterInfoRoutes, type RuntimeInfo } from './routes/cluster-info.js';
import { debugRoutes } from './routes/debug.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { messageRoutes } from './routes/messages.js';
import { readyRoutes } from './routes/ready.js';
import { statusRoutes } from './routes/status.js';

export interface AppDependencies {
  config: Config;
  identity: ClusterIdentity;
  logger: Logger;
  readiness: Readiness;
  tokens: TokenService;
  messages: MessageRepository;
  broadcaster: Broadcaster;
  runtimeInfo: RuntimeInfo;
  /** Times every request for Prometheus and PM2 (observability/http-metrics.ts). */
  requestMetrics: RequestHandler;
  clusterMetrics: ClusterMetrics;
}

/** Builds the Express app from its dependencies. It never listens: lifecycle/http-server.ts does. */
export function buildApp(deps: AppDependencies): Express {
  const { config, identity } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.http.trustProxy);

  // Read top to bottom, this is the order a request goes through.
  app.use(requestLogger(deps.logger));
  app.use(deps.requestMetrics);
  app.use((_req, res, next) => {
    res.setHeader('X-Instance-Id', String(identity.instanceId));
    next();
  });
  app.use(helmet());
  app.use(express.json({ limit: config.http.bodyLimit }));

  app.use(healthRoutes(identity));
  app.use(readyRoutes(deps.readiness, identity));
  app.use(metricsRoutes(deps.clusterMetrics));
  app.use(statusRoutes(config.env));
  app.use(clusterInfoRoutes(identity, deps.runtimeInfo));
  app.use(messageRoutes(deps));
  if (config.http.debugRoutes) app.use(debugRoutes());

  app.use(notFoundHandler);
  app.use(errorHandler({ isProduction: config.isProduction }));
  return app;
}
