import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server, type DefaultEventsMap, type ExtendedError, type Socket } from 'socket.io';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { boundedText, type LogBudget } from '../observability/log-budget.js';
import type { Logger } from '../observability/logger.js';
import type { Tracing } from '../observability/tracing.js';
import { guardUnawaitedCommands } from '../redis/client.js';
import type { ConnectionCap } from '../redis/connection-cap.js';
import { watchFanOutGaps, type FanOutGaps } from './fan-out-gaps.js';
import { observedAdapter } from './observed-adapter.js';

/** Set on every socket by the handshake's authentication. */
export interface SocketData {
  user: string;
  /** When the handshake's token expires (ms since the epoch). */
  expiresAt: number;
}

/** An event the server sends to clients, as /openapi.json describes it under `x-socket-events`. */
export interface ServerEventContract {
  summary: string;
  payload: z.ZodType;
}

const helloSchema = z.object({
  instanceId: z.number().int().meta({ description: 'The instance serving this connection (X-Instance-Id)' }),
  pid: z.number().int(),
  user: z.string().meta({ description: 'The token\'s subject' }),
});
export type Hello = z.infer<typeof helloSchema>;

const tokenExpiredSchema = z.object({ expiredAt: z.iso.datetime() });
export type TokenExpired = z.infer<typeof tokenExpiredSchema>;

/** The events every connection may receive, whatever the features add. */
export const realtimeServerEvents: Record<string, ServerEventContract> = {
  hello: { summary: 'Sent to each client on connection: which instance serves it, and as whom.', payload: helloSchema },
  'token-expired': { summary: 'Sent just before the server disconnects a client whose token has expired; reconnect with a new token.', payload: tokenExpiredSchema },
};

/** The infrastructure is untyped in its events; each feature validates and types its own (socket-events.ts). */
export type RealtimeServer = Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;
export type RealtimeSocket = Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;

export interface RealtimeOptions {
  /** The Redis adapter's connections; without them the in-memory adapter (ENABLE_CLUSTER=false). */
  redisAdapter: { pub: Redis; sub: Redis; channelKey: string } | undefined;
  allowPolling: boolean;
  corsOrigin: string;
  /** Largest message a client may send (Socket.IO's maxHttpBufferSize); a larger one closes its connection. */
  maxPayloadBytes: number;
  instanceId: number;
  /** Resolves a handshake to its user and when its token expires; an AppError rejection's message is shown to the client. */
  authenticate: (handshake: { auth: Record<string, unknown>; headers: IncomingHttpHeaders }) => Promise<{ user: string; expiresAt: number }>;
  /** Caps each user's connections across the cluster (MAX_SOCKETS_PER_USER); none when undefined. */
  connectionCap: ConnectionCap | undefined;
  /** False while this instance should take no new connections (cut off alone from a dependency). */
  accepting?: () => boolean;
  /** When on: each broadcast carries its trace to every instance, whose delivery is a span of it (observed-adapter.ts). */
  tracing?: Tracing | undefined;
  /** Told the delay of each broadcast from another instance, at its delivery here. */
  fanoutDelay?: ((seconds: number) => void) | undefined;
  /** Engine.IO connections one client address may hold on this instance, anonymous ones included (MAX_SOCKETS_PER_ADDRESS); 0: no cap. */
  maxPerAddress: number;
  /** The client's address as TRUST_PROXY says to read it (client-address.ts). */
  clientAddress: (req: IncomingMessage) => string;
  /** How long a connection may stay without completing the Socket.IO handshake (Socket.IO's connectTimeout, 45 s by default). */
  connectTimeoutMs: number;
  logger: Logger;
  /** Refused connections are client-caused lines: they count against it. */
  logBudget: LogBudget;
}

export interface Realtime {
  io: RealtimeServer;
  attach(server: HttpServer): void;
  info(): { adapter: 'redis' | 'memory'; connectedClients: number };
  /** When the Redis adapter may have missed events, and when it delivers again (none with the in-memory adapter). */
  fanOutGaps: FanOutGaps | undefined;
  /** The rooms this instance's clients are in (their own id rooms aside). */
  localRooms(): string[];
  /** Drops this instance's clients so they reconnect to another instance; never touches other instances. */
  disconnectLocal(): void;
  close(): Promise<void>;
}

export const POLLING_DISABLED_MESSAGE =
  'HTTP long-polling is disabled: behind PM2 round-robin each poll may reach another instance. Connect with transports: ["websocket"], or enable sticky sessions (see docs/realtime.md).';

export const NOT_ACCEPTING_MESSAGE = 'This instance cannot reach a dependency that other instances reach; reconnect to another instance.';

// setTimeout's largest delay (about 24.8 days); a longer one would fire at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The transport Engine.IO itself will use for this request: it parses the query into
 * `req._query` (the last of repeated parameters wins) before calling allowRequest. Reading a
 * string of our own instead let `?transport=websocket&transport=polling` through.
 */
function engineTransport(req: IncomingMessage): unknown {
  return (req as IncomingMessage & { _query?: Record<string, unknown> })._query?.transport;
}

function refusal(message: string, code: string): ExtendedError {
  const error: ExtendedError = new Error(message);
  error.data = { code };
  return error;
}

/**
 * Counts each client address's Engine.IO connections on this instance. A connection counts
 * from the moment it is admitted; it stops counting when its Engine.IO socket closes, or, if
 * it never became one (the handshake failed), when its TCP connection closes.
 */
function addressCap(max: number, addressOf: (req: IncomingMessage) => string) {
  const counts = new Map<string, number>();
  const admitted = new WeakMap<IncomingMessage, () => void>();
  return {
    admit(req: IncomingMessage): boolean {
      if (max === 0) return true;
      const address = addressOf(req);
      const count = counts.get(address) ?? 0;
      if (count >= max) return false;
      counts.set(address, count + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const left = (counts.get(address) ?? 1) - 1;
        if (left > 0) counts.set(address, left);
        else counts.delete(address);
      };
      admitted.set(req, release);
      req.socket.once('close', () => {
        if (admitted.get(req) === release) release();
      });
      return true;
    },
    opened(req: IncomingMessage, socket: { once(name: 'close', listener: () => void): void }): void {
      const release = admitted.get(req);
      if (!release) return;
      // From here the Engine.IO socket's life is what counts (a polling client's requests come and go).
      admitted.delete(req);
      socket.once('close', release);
    },
  };
}

export function createRealtime(options: RealtimeOptions): Realtime {
  const log = options.logger.child({ component: 'socket.io' });
  const perAddress = addressCap(options.maxPerAddress, options.clientAddress);
  const io: RealtimeServer = new Server({
    // Polling stays listed only so a polling handshake reaches allowRequest and gets a clear
    // answer; without sticky sessions every polling client is refused there.
    transports: ['polling', 'websocket'],
    // Engine.IO asks this for every new connection (not for the requests of an open one).
    allowRequest: (req, callback) => {
      if (!options.allowPolling && engineTransport(req) !== 'websocket') callback(POLLING_DISABLED_MESSAGE, false);
      // Refused at the transport, not by middleware: socket.io-client retries this on its own
      // (with back-off), and the retry reaches another instance.
      else if (options.accepting && !options.accepting()) callback(NOT_ACCEPTING_MESSAGE, false);
      else if (!perAddress.admit(req)) callback(`Too many connections from this address: at most ${options.maxPerAddress} at once`, false);
      else callback(null, true);
    },
    // A connection that opens Engine.IO but never sends Socket.IO's CONNECT is closed after this.
    connectTimeout: options.connectTimeoutMs,
    maxHttpBufferSize: options.maxPayloadBytes,
    cors: { origin: options.corsOrigin },
    serveClient: false,
  });

  let fanOutGaps: FanOutGaps | undefined;
  if (options.redisAdapter) {
    const { pub, sub, channelKey } = options.redisAdapter;
    const gaps = watchFanOutGaps(io, { pub, sub }, { logger: options.logger });
    fanOutGaps = gaps;
    const failed = () => { gaps.publishFailed(); };
    const adapter = createAdapter(guardUnawaitedCommands(pub, log, failed), guardUnawaitedCommands(sub, log), {
      key: channelKey,
      // How long a request to the other instances (e.g. /metrics collection) waits for answers.
      requestsTimeout: 2000,
    });
    io.adapter(observedAdapter(adapter, { tracing: options.tracing, fanoutDelay: options.fanoutDelay }));
    log.info({ event: 'socket-adapter', adapter: 'redis' }, 'Socket.IO Redis Adapter enabled for cluster mode');
  } else {
    log.warn({ event: 'socket-adapter', adapter: 'memory' }, 'Socket.IO uses the in-memory adapter (ENABLE_CLUSTER=false): events reach only clients of the instance that emits them');
  }

  const expiries = new Map<string, NodeJS.Timeout>();

  io.use((socket, next) => {
    void (async () => {
      let identity: { user: string; expiresAt: number };
      try {
        identity = await options.authenticate(socket.handshake);
      } catch (error) {
        next(refusal(error instanceof AppError ? error.message : 'Authentication failed', 'UNAUTHORIZED'));
        return;
      }
      const { user } = identity;
      socket.data.user = user;
      socket.data.expiresAt = identity.expiresAt;
      const cap = options.connectionCap;
      if (cap) {
        if (!(await cap.acquire(user, socket.id))) {
          log.warn({ event: 'socket-cap', user, max: cap.max }, 'Socket.IO connection refused: the user is at MAX_SOCKETS_PER_USER');
          next(refusal(`Too many connections for this user: at most ${cap.max} at once`, 'TOO_MANY_CONNECTIONS'));
          return;
        }
        // The connection may have gone while we asked Redis; then no 'disconnect' will follow.
        socket.conn.once('close', () => { cap.release(user, socket.id); });
        if (socket.conn.readyState !== 'open') cap.release(user, socket.id);
      }
      next();
    })().catch((error: unknown) => {
      log.error({ err: error }, 'Socket.IO handshake failed');
      next(refusal('Connection failed', 'INTERNAL_ERROR'));
    });
  });

  io.on('connection', (socket) => {
    const hello: Hello = { instanceId: options.instanceId, pid: process.pid, user: socket.data.user };
    socket.emit('hello', hello);
    // A token is valid until it expires, not for as long as the connection lasts.
    const remaining = socket.data.expiresAt - Date.now();
    if (remaining < MAX_TIMER_MS) {
      const timer = setTimeout(() => {
        const expired: TokenExpired = { expiredAt: new Date(socket.data.expiresAt).toISOString() };
        socket.emit('token-expired', expired);
        socket.disconnect(true);
      }, Math.max(0, remaining));
      timer.unref();
      expiries.set(socket.id, timer);
    }
    socket.on('disconnect', () => {
      clearTimeout(expiries.get(socket.id));
      expiries.delete(socket.id);
      options.connectionCap?.release(socket.data.user, socket.id);
    });
  });

  let closing: Promise<void> | undefined;
  let attached = false;
  return {
    io,
    attach: (server) => {
      io.attach(server);
      attached = true;
      // The engine exists only once attached.
      io.engine.on('connection', (socket: { request: IncomingMessage; once(name: 'close', listener: () => void): void }) => {
        perAddress.opened(socket.request, socket);
      });
      io.engine.on('connection_error', (error: { code: number; message: string; req?: IncomingMessage; context?: { message?: unknown } }) => {
        if (!options.logBudget.take()) return;
        // Engine.IO's own message is generic ("Forbidden"); the reason allowRequest gave (polling off, the
        // address cap, an instance cut off) is in `context`, and the address says who hit the cap.
        const reason = typeof error.context?.message === 'string' ? boundedText(error.context.message) : undefined;
        const { req } = error;
        log.warn(
          { code: error.code, reason, remoteAddress: req ? options.clientAddress(req) : undefined, url: req?.url === undefined ? undefined : boundedText(req.url) },
          `Socket.IO connection refused: ${reason ?? error.message}`,
        );
      });
    },
    // The engine exists only once attached; before that no client can be connected.
    info: () => ({ adapter: options.redisAdapter ? 'redis' : 'memory', connectedClients: attached ? io.engine.clientsCount : 0 }),
    fanOutGaps,
    localRooms: () => {
      const adapter = io.of('/').adapter;
      return [...adapter.rooms.keys()].filter((room) => !adapter.sids.has(room));
    },
    disconnectLocal: () => {
      // Close each connection at the transport, after what is queued for it is sent, without
      // Socket.IO's disconnect packet: a client told "io server disconnect" does not
      // reconnect on its own, one whose transport closed does (to another instance).
      for (const socket of io.sockets.sockets.values()) socket.conn.close();
    },
    close() {
      // io.close() also closes the HTTP server; ours is already closed by then, so its
      // "not running" callback error is expected and ignored. The Redis connections are the
      // process's own (redis/connections.ts) and closed after this.
      closing ??= (async () => {
        for (const timer of expiries.values()) clearTimeout(timer);
        fanOutGaps?.close();
        await io.close(() => undefined);
        await options.connectionCap?.close();
      })();
      return closing;
    },
  };
}
