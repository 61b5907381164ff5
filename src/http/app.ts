import express, { type Express, type RequestHandler, type Router } from 'express';
import { errorHandler, notFoundHandler } from './error-handler.js';

export interface AppOptions {
  /** Express's `trust proxy`: false, a hop count, or the proxies' addresses (config/env.ts). */
  trustProxy: false | number | string[];
  bodyLimit: string;
  isProduction: boolean;
  /**
   * Request id, the fixed headers (instance id and helmet's security headers, see
   * security-headers.ts), timing, access log and metrics (observability/requests.ts).
   */
  observeRequests: RequestHandler;
  /** Admission before any body is read, e.g. the per-address rate limit; none when undefined. */
  requestLimit?: RequestHandler | undefined;
  /** The features' routers, in the order they are tried. */
  routers: Router[];
}

/** Builds the Express app. It never listens: lifecycle/http-server.ts does. */
export function buildApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy);

  // Read top to bottom, this is the order a request goes through.
  app.use(options.observeRequests);
  if (options.requestLimit) app.use(options.requestLimit);
  // On every route, so a body that does not decode is refused as such (400/413/415) wherever it
  // is sent. A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3),
  // as body-parser also decides; it goes by without the parser's work and the `body` property
  // the parser would add to it (every probe and GET; docs/benchmarks.md).
  const parseJson: RequestHandler = express.json({ limit: options.bodyLimit });
  app.use((req, res, next) => {
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) next();
    else parseJson(req, res, next);
  });

  for (const router of options.routers) app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler({ isProduction: options.isProduction }));
  return app;
}
