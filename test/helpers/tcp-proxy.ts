import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './services.js';

export interface TcpProxy {
  port: number;
  /** Drops every connection through it and refuses new ones (ECONNREFUSED), as a lost route would. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A loopback TCP relay of the test's own: each new connection goes to the next of `targets`
 * in turn (one target: a plain relay; several: round-robin, as PM2's cluster mode hands out
 * connections). It lets a test cut one process off from a service the others still reach.
 */
export async function tcpProxy(targets: number[]): Promise<TcpProxy> {
  const port = await freePort();
  const open = new Set<Socket>();
  let next = 0;
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const target = targets[next % targets.length] ?? 0;
        next += 1;
        const upstream = createConnection({ host: '127.0.0.1', port: target });
        for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
          open.add(a);
          a.on('error', () => b.destroy());
          a.on('close', () => { open.delete(a); b.destroy(); });
          a.pipe(b);
        }
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => { resolve(); });
    });
  const cut = async () => {
    const listening = server;
    const closed = new Promise<void>((resolve) => {
      if (listening) listening.close(() => { resolve(); });
      else resolve();
    });
    server = undefined;
    for (const socket of open) socket.destroy();
    await closed;
  };
  await listen();
  return { port, cut, restore: listen, close: cut };
}
