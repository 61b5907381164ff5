import { boundedText, type LogBudget } from './log-budget.js';
import type { Logger } from './logger.js';
import type { RequestObserver } from './requests.js';

// Probes arrive every few seconds from load balancers; log them only at debug. Matched by route,
// so /HEALTH and /health/ (the same route to Express) are probes too.
const PROBE_ROUTES = new Set(['/health', '/api/health', '/ready', '/api/ready', '/metrics']);

/**
 * One JSON line per finished request: `req` {id, method, url, remoteAddress}, `res`
 * {statusCode}, `responseTime` (ms), and `err` for a failed one (the error handler puts it on
 * `res.err`), so each error is logged once, with its request id.
 *
 * This replaced pino-http: it builds a child logger per request (serialising the request into
 * its bindings) and adds three response listeners, ≈ 21 µs per request for a `req.log` the app
 * never used (docs/benchmarks.md). Here a request that is not logged at the current level (a
 * probe at info) costs one Set lookup.
 */
export function accessLog(logger: Logger, budget: LogBudget): RequestObserver {
  return {
    requestFinished: ({ req, res, route, seconds }) => {
      const status = res.statusCode;
      // A probe's 503 is its answer ("not ready"), not a failure: the readiness check logs each
      // change of state once, at warn (lifecycle/readiness.ts), and a probe every few seconds
      // must not add an error line with a stack each time. A probe whose handler threw is logged.
      const probe = PROBE_ROUTES.has(route) && res.err === undefined;
      const level = probe ? 'debug' : status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
      // Every line here is one a client can cause, so each counts against the budget; the URL is cut to a bound.
      if (!logger.isLevelEnabled(level) || !budget.take()) return;
      const url = boundedText(req.originalUrl);
      const error = res.err ?? (status >= 500 && !probe ? new Error(`failed with status code ${status}`) : undefined);
      const responseTime = Math.round(seconds * 1000);
      const line = {
        // req.ip: the client's address as TRUST_PROXY says to read it (the proxy's when unset).
        req: { id: req.id, method: req.method, url, remoteAddress: req.ip ?? req.socket.remoteAddress },
        res: { statusCode: status },
        responseTime,
        ...(error ? { err: error } : {}),
      };
      logger[level](line, error ? `${req.method} ${url} ${status}` : `${req.method} ${url} ${status} ${responseTime}ms`);
    },
  };
}
