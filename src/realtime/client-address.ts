import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * The client's address of a request that does not pass through Express (a Socket.IO
 * handshake), read exactly as Express reads `req.ip` under the same TRUST_PROXY (config/env.ts):
 * the connection's address, or the entry of X-Forwarded-For that the trusted proxies vouch for.
 * Both use proxy-addr, so the per-address socket cap and API_RATE_LIMIT count the same address.
 */
export function clientAddressOf(trustProxy: false | number | string[]): (req: IncomingMessage) => string {
  if (trustProxy === false) return (req) => req.socket.remoteAddress ?? 'unknown';
  const trust = typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : proxyaddr.compile(trustProxy);
  return (req) => proxyaddr(req, trust);
}
