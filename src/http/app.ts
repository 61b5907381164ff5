import express, { type Express, type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import { errorHandler, notFoundHandler } from './error-handler.js';

export interface AppOptions {
  /** Express's `trust proxy`: false, a hop count, or the proxies' addresses (config/env.ts). */
  trustProxy: false | number | string[];
  bodyLimit: string;
  isProduction: boolean;
  /** Request id, fixed headers, timing, access log and metrics (observability/requests.ts). */
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
  app.use(
    helmet({
      // Helmet's default CSP (same-origin scripts, styles, connections; no inline script) minus
      // upgrade-insecure-requests: on plain HTTP at any address but localhost (npm start, then
      // http://<server>:3000 from another machine) it rewrites the page's own files to https://
      // and nothing loads. The page uses relative URLs only, so it has no mixed content to upgrade.
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    }),
  );
  if (options.requestLimit) app.use(options.requestLimit);
  // On every route, so a body that does not decode is refused as such (400/413/415) wherever it is sent.
  app.use(express.json({ limit: options.bodyLimit }));

  for (const router of options.routers) app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler({ isProduction: options.isProduction }));
  return app;
}
