import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';

/** A request once its response has finished or its connection closed. */
export interface FinishedRequest {
  req: Request;
  res: Response;
  /** The matched route's pattern (`/api/rooms/:room/messages`), 'unmatched' for 404s. */
  route: string;
  seconds: number;
}

/** What wants to know about every finished request: the access log, Prometheus, PM2 monit. */
export interface RequestObserver {
  requestFinished: (finished: FinishedRequest) => void;
}

const REQUEST_ID_HEADER = 'x-request-id';
// Accept a caller's id only if it is short and printable, so it cannot forge log lines.
const VALID_REQUEST_ID = /^[\w.:-]{1,128}$/;

function requestId(req: Request): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * The matched route's pattern; for a route mounted on several paths (`['/health', '/api/health']`)
 * the one that matched; 'unmatched' when no route did. Never the raw path, so random URLs
 * cannot explode a metric's series count.
 */
export function routeLabel(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') return `${req.baseUrl}${path}`;
  if (Array.isArray(path)) {
    const paths = path.filter((p): p is string => typeof p === 'string');
    return `${req.baseUrl}${paths.find((p) => p === req.path) ?? paths[0] ?? ''}`;
  }
  return 'unmatched';
}

/**
 * The first middleware: gives the request its id (the caller's `X-Request-Id` if well-formed,
 * else a UUID) and echoes it, sets the fixed response headers (the instance id and helmet's
 * security headers: http/security-headers.ts), times the request, and tells
 * every observer once it is over. One listener per request feeds them all: every instance pays
 * this on every request, and each extra listener, closure or child logger shows in the profile
 * (docs/benchmarks.md). The in-flight count kept here is the one Prometheus and PM2 report.
 */
export function observeRequests(
  observers: RequestObserver[],
  options: { headers: Record<string, string> },
): { middleware: RequestHandler; inFlight: () => number; served: () => number } {
  let inFlight = 0;
  let served = 0;
  const headers = Object.entries(options.headers);
  const middleware: RequestHandler = (req, res, next) => {
    const started = performance.now();
    req.id = requestId(req);
    res.setHeader('X-Request-Id', req.id);
    for (const [name, value] of headers) res.setHeader(name, value);
    inFlight += 1;
    // 'close' follows 'finish' for every response, and also comes alone when the client goes
    // away; either way it comes once, so `on` (`once` would wrap the listener on every request).
    res.on('close', () => {
      inFlight -= 1;
      served += 1;
      const finished: FinishedRequest = { req, res, route: routeLabel(req), seconds: (performance.now() - started) / 1000 };
      for (const o of observers) o.requestFinished(finished);
    });
    next();
  };
  return { middleware, inFlight: () => inFlight, served: () => served };
}
