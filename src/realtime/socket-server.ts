import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server, type ExtendedError } from 'socket.io';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.js';
import { bearerToken, type TokenService } from '../auth/jwt.js';
import type { ClusterIdentity } from '../cluster/identity.js';
import type { Logger } from '../observability/logger.js';
import { closeRedis, createRedis, guardUnawaitedCommands } from '../redis/client.js';
import { roomSchema, type Ack, type ClientToServerEvents, type InterServerEvents, type ServerToClientEvents, type SocketData } from './events.js';

export type RealtimeServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface RealtimeOptions {
  redisAdapter: boolean;
  redisUrl: string;
  /** Channel prefix shared with the worker's emitter, so deployments on one Redis stay apart. */
  channelKey: string;
  allowPolling: boolean;
  corsOrigin: string;
  identity: ClusterIdentity;
  tokens: TokenService;
  logger: Logger;
}

export interface Realtime {
  io: RealtimeServer;
  attach(server: HttpServer): void;
  info(): { adapter: 'redis' | 'memory'; connectedClients: number };
  /** Drops this instance's clients so they reconnect to another instance; never touches other instances. */
  disconnectLocal(): void;
  close(): Promise<void>;
}

const MAX_ROOMS_PER_SOCKET = 50;
export const POLLING_DISABLED_MESSAGE =
  'HTTP long-polling is disabled: behind PM2 round-robin each poll may reach another instance. Connect with transports: ["websocket"], or enable sticky sessions (see docs/realtime.md).';

function rejectPolling(url: string | undefined): boolean {
  return new URLSearchParams((url ?? '').split('?')[1] ?? '').get('transport') === 'polling';
}

export function createRealtime(options: RealtimeOptions): Realtime {
  const log = options.logger.child({ component: 'socket.io' });
  const io: RealtimeServer = new Server({
    // Polling stays listed only so a polling handshake reaches allowRequest and gets a clear
    // answer; without sticky sessions every polling client is refused there.
    transports: ['polling', 'websocket'],
    allowRequest: (req, callback) => {
      if (!options.allowPolling && rejectPolling(req.url)) callback(POLLING_DISABLED_MESSAGE, false);
      else callback(null, true);
    },
    cors: { origin: options.corsOrigin },
    serveClient: false,
  });

  const adapterClients: Redis[] = [];
  if (options.redisAdapter) {
    const pub = createRedis(options.redisUrl, { name: 'socket.io-pub', logger: options.logger });
    const sub = createRedis(options.redisUrl, { name: 'socket.io-sub', logger: options.logger, subscriber: true });
    adapterClients.push(pub, sub);
    io.adapter(
      createAdapter(guardUnawaitedCommands(pub, log), guardUnawaitedCommands(sub, log), {
        key: options.channelKey,
        // How long a request to the other instances (e.g. /metrics collection) waits for answers.
        requestsTimeout: 2000,
      }),
    );
    log.info('Socket.IO Redis Adapter enabled for cluster mode');
  } else {
    log.warn('Socket.IO uses the in-memory adapter (ENABLE_CLUSTER=false): events reach only clients of the instance that emits them');
  }

  io.use((socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown };
    const token = typeof auth.token === 'string' ? auth.token : bearerToken(socket.handshake.headers.authorization);
    options.tokens.verify(token).then(
      (user) => {
        socket.data.user = user;
        next();
      },
      (error: unknown) => {
        const refused: ExtendedError = new Error(error instanceof AppError ? error.message : 'Authentication failed');
        refused.data = { code: 'UNAUTHORIZED' };
        next(refused);
      },
    );
  });

  io.on('connection', (socket) => {
    socket.emit('hello', { instanceId: options.identity.instanceId, pid: process.pid, user: socket.data.user });

    const roomFrom = (payload: unknown, ack: unknown): string | undefined => {
      const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => undefined;
      const parsed = roomSchema.safeParse((payload as { room?: unknown } | undefined)?.room);
      if (!parsed.success) {
        reply({ ok: false, error: `room ${parsed.error.issues[0]?.message ?? 'is invalid'}` });
        return undefined;
      }
      return parsed.data;
    };

    socket.on('join', (payload, ack) => {
      const room = roomFrom(payload, ack);
      if (room === undefined) return;
      // socket.rooms includes the socket's own id room.
      if (!socket.rooms.has(room) && socket.rooms.size > MAX_ROOMS_PER_SOCKET) {
        ack({ ok: false, error: `at most ${MAX_ROOMS_PER_SOCKET} rooms per connection` });
        return;
      }
      void socket.join(room);
      ack({ ok: true });
    });

    socket.on('leave', (payload, ack) => {
      const room = roomFrom(payload, ack);
      if (room === undefined) return;
      void socket.leave(room);
      ack({ ok: true });
    });
  });

  let closing: Promise<void> | undefined;
  return {
    io,
    attach: (server) => {
      io.attach(server);
      // The engine exists only once attached.
      io.engine.on('connection_error', (error: { code: number; message: string; req?: { url?: string } }) => {
        log.warn({ code: error.code, url: error.req?.url }, `Socket.IO connection refused: ${error.message}`);
      });
    },
    info: () => ({ adapter: options.redisAdapter ? 'redis' : 'memory', connectedClients: io.engine.clientsCount }),
    disconnectLocal: () => {
      io.local.disconnectSockets(true);
    },
    close() {
      closing ??= (async () => {
        // io.close() also closes the HTTP server; ours is already closed by then, so its
        // "not running" callback error is expected and ignored.
        await io.close(() => undefined);
        await Promise.all(adapterClients.map(closeRedis));
      })();
      return closing;
    },
  };
}
