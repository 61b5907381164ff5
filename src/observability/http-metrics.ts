import type { RequestHandler } from 'express';

/** Observers of finished requests (Prometheus, PM2 monit); one middleware feeds them all. */
export interface RequestObserver {
  requestFinished: (labels: { method: string; route: string; status_code: number }, seconds: number) => void;
}

/**
 * Times every request. The route label is the matched route pattern (`/api/rooms/:room/messages`),
 * never the raw path, so random URLs cannot explode the series count. The in-flight count kept
 * here is the one both Prometheus and PM2 report.
 */
export function httpMetrics(observers: RequestObserver[]): { middleware: RequestHandler; inFlight: () => number } {
  let inFlight = 0;
  const middleware: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const routePath = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof routePath === 'string' ? `${req.baseUrl}${routePath}` : 'unmatched';
      for (const o of observers) o.requestFinished({ method: req.method, route, status_code: res.statusCode }, seconds);
    });
    next();
  };
  return { middleware, inFlight: () => inFlight };
}
