import http, { type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { RequestListener } from 'node:http';

export interface HttpServer {
  server: http.Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /**
   * Stops accepting connections and resolves once every open connection has ended. In-flight
   * requests finish; each connection's next response says `Connection: close`, so keep-alive
   * clients reconnect (to another instance) instead of being cut off.
   */
  drain(): Promise<void>;
}

export function createHttpServer(handler: RequestListener, options: { keepAliveTimeoutMs: number }): HttpServer {
  const server = http.createServer(handler);
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  // Must exceed keepAliveTimeout, or Node can time out a request arriving on a reused socket.
  server.headersTimeout = options.keepAliveTimeoutMs + 1000;

  let draining = false;
  const inFlight = new Set<ServerResponse>();
  // Prepended so it runs before the app can answer synchronously.
  server.prependListener('request', (_req, res) => {
    if (draining) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.on('close', () => inFlight.delete(res));
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
    drain() {
      drained ??= new Promise((resolve) => {
        draining = true;
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        // http.Server#close() would also destroy idle keep-alive sockets at once, racing with a
        // request the client is sending on one (ab -k, or a proxy, sees it cut off). The
        // net.Server close only stops accepting; idle sockets then end by keepAliveTimeout, which
        // clients were told in the Keep-Alive header, and busy ones after their response.
        net.Server.prototype.close.call(server, () => { resolve(); });
      });
      return drained;
    },
  };
}
