import type { Request, RequestHandler } from 'express';

/** Observers of finished requests (Prometheus, PM2 monit); one middleware feeds them all. */
export interface RequestObserver {
  requestFinished: (labels: { method: string; route: string; status_code: number }, seconds: number) => void;
}

/**
 * The matched route's pattern; for a route mounted on several paths (`['/health', '/api/health']`)
 * the one that matched; 'unmatched' when no route did (404s).
 */
function routeLabel(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') return `${req.baseUrl}${path}`;
  if (Array.isArray(path)) {
    const paths = path.filter((p): p is string => typeof p === 'string');
    return `${req.baseUrl}${paths.find((p) => p === req.path) ?? paths[0] ?? ''}`;
  }
  return 'unmatched';
}

/**
 * Times every request. The route label is the matched route pattern (`/api/rooms/:room/messages`),
 * never the raw path, so random URLs cannot explode the series count. The in-flight count kept
 * here is the one both Prometheus and PM2 report.
 */
export function httpMetrics(observers: RequestObserver[]): { middleware: RequestHandler; inFlight: () => number; served: () => number } {
  let inFlight = 0;
  let served = 0;
  const middleware: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      served += 1;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeLabel(req);
      for (const o of observers) o.requestFinished({ method: req.method, route, status_code: res.statusCode }, seconds);
    });
    next();
  };
  return { middleware, inFlight: () => inFlight, served: () => served };
}
