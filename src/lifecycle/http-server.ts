import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { RequestListener } from 'node:http';

export interface HttpServer {
  server: http.Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /**
   * Stops accepting connections and resolves once every open connection has ended, within
   * `budgetMs`. In-flight requests finish; each connection's next response says
   * `Connection: close`, so keep-alive clients reconnect (to another instance) instead of
   * being cut off. A client cannot hold the drain: see below.
   */
  drain(budgetMs: number): Promise<void>;
}

export interface HttpServerOptions {
  keepAliveTimeoutMs: number;
  /** Longest a client may take to send a whole request (headers and body); then 408 and closed. */
  requestTimeoutMs: number;
  /** How long, while draining, a connection may sit idle or take to send its request. */
  drainGraceMs?: number;
}

// Long enough for a request already on its way when the drain begins to arrive (on a LAN, a
// few ms); short enough that a reload is not held up by clients that send nothing.
const DEFAULT_DRAIN_GRACE_MS = 500;

export function createHttpServer(handler: RequestListener, options: HttpServerOptions): HttpServer {
  const server = http.createServer(
    {
      requestTimeout: options.requestTimeoutMs,
      // Headers are small: they get the keep-alive timeout and a second, never more than the whole request.
      headersTimeout: Math.min(options.keepAliveTimeoutMs + 1000, options.requestTimeoutMs),
      // How often Node enforces those two; its default (30 s) would let a slow client run 30 s over.
      connectionsCheckingInterval: 1000,
    },
    handler,
  );
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  const graceMs = options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS;

  let draining = false;
  // Every open connection, and the last request each received (being served while its response
  // has not finished), so the drain can tell an idle connection or a slow client from one whose
  // request is being answered.
  const sockets = new Set<Socket>();
  const upgraded = new WeakSet<Socket>();
  const lastRequest = new Map<Socket, { req: IncomingMessage; res: ServerResponse; since: number }>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => { sockets.delete(socket); lastRequest.delete(socket); });
  });
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => { upgraded.add(socket); });
  // Prepended so it runs before the app can answer synchronously. A connection's entry stays
  // after its response (until its next request or its close): the drain looks at whether that
  // response has finished, which spares every request a listener of its own.
  server.prependListener('request', (req, res) => {
    if (draining) res.setHeader('Connection', 'close');
    lastRequest.set(req.socket, { req, res, since: Date.now() });
  });

  let drained: Promise<void> | undefined;
  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    drain(budgetMs) {
      drained ??= new Promise((resolve) => {
        draining = true;
        for (const { res } of lastRequest.values()) if (!res.headersSent) res.setHeader('Connection', 'close');
        // Not http.Server#close(), which destroys idle keep-alive sockets at once: a client
        // may be sending a request on one at that moment, and it would be cut off (ab -k or a
        // proxy sees a failure). net.Server#close only stops accepting. Then:
        // - after `graceMs`, connections that are idle are closed (Node's
        //   closeIdleConnections: no request has begun on them; one that has is not touched).
        //   Any response since the drain began said Connection: close, so they have been idle
        //   for the whole grace;
        // - a request whose body has been arriving for `graceMs` or more is cut off, and so is
        //   a connection still sending its headers at two checks `graceMs` apart: a client
        //   that slow does not hold the shutdown;
        // - at `budgetMs` whatever is left is destroyed, so the later shutdown steps keep
        //   their time.
        // Busy connections end after their response (Connection: close).
        const started = Date.now();
        let sendingHeaders = new Map<Socket, number>();
        const sweep = () => {
          const now = Date.now();
          if (now - started >= graceMs) server.closeIdleConnections();
          const stillSending = new Map<Socket, number>();
          for (const socket of sockets) {
            if (socket.destroyed || upgraded.has(socket)) continue;
            const current = lastRequest.get(socket);
            if (current && !current.res.writableFinished) {
              if (!current.req.complete && now - current.since >= graceMs) socket.destroy();
            } else if (now - started >= graceMs) {
              // Connected but never sent a byte in the whole grace: as idle as it gets.
              if (socket.bytesRead === 0) {
                socket.destroy();
                continue;
              }
              // Idle ones were closed just above: this one has begun a request, not finished its headers.
              const since = sendingHeaders.get(socket) ?? now;
              if (now - since >= graceMs) socket.destroy();
              else stillSending.set(socket, since);
            }
          }
          sendingHeaders = stillSending;
        };
        const sweeper = setInterval(sweep, Math.max(50, Math.floor(graceMs / 4)));
        const deadline = setTimeout(() => {
          server.closeAllConnections();
          for (const socket of sockets) socket.destroy();
        }, budgetMs);
        net.Server.prototype.close.call(server, () => {
          clearInterval(sweeper);
          clearTimeout(deadline);
          resolve();
        });
      });
      return drained;
    },
  };
}
