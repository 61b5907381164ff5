import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { errorDetailSchema } from '../errors/error-body.js';
import { fieldProblems, validationFailed } from '../errors/validation.js';
import type { Logger } from '../observability/logger.js';
import type { Tracing } from '../observability/tracing.js';
import type { RealtimeServer, RealtimeSocket } from './socket-server.js';

/**
 * Socket.IO events handled the way HTTP routes are: the one place a client's event goes
 * through. For every event it
 * - throttles the connection (`eventsPerSecond`): over it, the event is refused with a
 *   RATE_LIMITED error; a client that sends more than twice that in one second is flooding
 *   and is disconnected;
 * - validates the payload with the event's zod schema (its contract, which /openapi.json
 *   describes under `x-socket-events`), and the acknowledgement (the last argument, if it is
 *   a function);
 * - runs the handler, catching whatever it throws or rejects with: an AppError is the
 *   client's answer, anything else is a bug, logged with the socket, user and event, and
 *   answered INTERNAL_ERROR. Nothing a client sends can throw into the process.
 * Where the client asked for an acknowledgement it gets `{ok: true, ...result}` or
 * `{ok: false, error: {code, message, details?}}` (the HTTP error body's fields); where it
 * did not, a refused event is dropped (logged at debug).
 */

export type EventError = z.infer<typeof errorDetailSchema>;

export type EventAck<T extends object = object> = ({ ok: true } & T) | { ok: false; error: EventError };

/** The acknowledgement of an event whose success fields are `result`, as a schema (for /openapi.json's `x-socket-events`). */
export function ackSchema(result: z.ZodObject) {
  return z.union([result.extend({ ok: z.literal(true) }), z.object({ ok: z.literal(false), error: errorDetailSchema })]);
}

/** A client event's contract: what the client sends, and the fields of a successful acknowledgement. */
export interface ClientEventContract<P extends z.ZodType = z.ZodType, R extends z.ZodObject = z.ZodObject> {
  summary: string;
  payload: P;
  result: R;
}

export interface EventContext {
  socket: RealtimeSocket;
  user: string;
}

export type EventHandler<P extends z.ZodType, R extends z.ZodObject> = (payload: z.infer<P>, context: EventContext) => z.infer<R> | Promise<z.infer<R>>;

export interface SocketEvents {
  /** Registers a client event; the handler's result (typed by `contract.result`) is spread into the `{ok: true}` ack. */
  on<P extends z.ZodType, R extends z.ZodObject>(event: string, contract: ClientEventContract<P, R>, handler: EventHandler<P, R>): void;
  /** Every registered event's contract, by name. */
  contracts(): Record<string, ClientEventContract>;
}

type Ack = (result: EventAck) => void;

/** A client sending this many times the limit within one window is disconnected. */
const FLOOD_FACTOR = 2;

export function createSocketEvents(io: RealtimeServer, options: { eventsPerSecond: number; isProduction: boolean; logger: Logger; tracing?: Tracing | undefined }): SocketEvents {
  const log = options.logger.child({ component: 'socket.io' });
  const handlers = new Map<string, (args: unknown[], ack: Ack | undefined, context: EventContext) => Promise<void>>();
  const contracts: Record<string, ClientEventContract> = {};
  const throttle = new RateLimiterMemory({ points: options.eventsPerSecond, duration: 1 });

  const answer = (ack: Ack | undefined, result: EventAck) => {
    try {
      ack?.(result);
    } catch (error) {
      log.error({ err: error }, 'Socket.IO acknowledgement failed');
    }
  };
  const refuse = (ack: Ack | undefined, error: AppError) => {
    answer(ack, { ok: false, error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } });
  };

  io.on('connection', (socket) => {
    const context: EventContext = { socket, user: socket.data.user };
    socket.on('disconnect', () => {
      void throttle.delete(socket.id);
    });
    // Runs for every event packet a client sends. It dispatches the event itself and never
    // calls next(), so no packet reaches a listener unthrottled or unvalidated (and never
    // next(error), which Socket.IO would emit as the socket's 'error' event).
    socket.use((packet) => {
      const [event, ...args] = packet as unknown[];
      const ack = typeof args.at(-1) === 'function' ? (args.pop() as Ack) : undefined;
      void throttle.consume(socket.id).then(
        () => {
          const handler = typeof event === 'string' ? handlers.get(event) : undefined;
          const { tracing } = options;
          if (handler && tracing) {
            void tracing.span(`socket.io ${event as string}`, { 'app.socket_event': event as string, 'app.socket_id': socket.id }, () => handler(args, ack, context));
          } else if (handler) {
            void handler(args, ack, context);
          } else {
            log.debug({ socketId: socket.id, user: context.user, socketEvent: String(event) }, 'Unknown Socket.IO event');
            refuse(ack, new AppError(400, 'UNKNOWN_EVENT', `Unknown event ${JSON.stringify(String(event))}; this server handles ${[...handlers.keys()].join(', ')}`));
          }
        },
        (rejection: unknown) => {
          const consumed = rejection instanceof RateLimiterRes ? rejection.consumedPoints : Infinity;
          if (consumed > options.eventsPerSecond * FLOOD_FACTOR) {
            if (socket.connected) {
              log.warn({ event: 'socket-flood', socketId: socket.id, user: context.user, limit: options.eventsPerSecond }, 'Socket.IO client kept flooding past its event limit; disconnected');
              socket.disconnect(true);
            }
            return;
          }
          const retryMs = rejection instanceof RateLimiterRes ? rejection.msBeforeNext : 1000;
          refuse(ack, new AppError(429, 'RATE_LIMITED', `Too many events: at most ${options.eventsPerSecond} per second per connection; retry in ${retryMs} ms`));
        },
      );
    });
  });

  return {
    on(event, contract, handler) {
      contracts[event] = contract;
      const schema = contract.payload;
      handlers.set(event, async (args, ack, context) => {
        try {
          if (args.length > 1) {
            throw validationFailed(`${event} event`, [{ field: 'payload', message: 'must be one argument (an object), then an optional acknowledgement callback' }]);
          }
          const parsed = schema.safeParse(args[0]);
          if (!parsed.success) throw validationFailed(`${event} payload`, fieldProblems(parsed.error));
          const result: object = await handler(parsed.data, context);
          answer(ack, { ok: true, ...result });
        } catch (error) {
          if (error instanceof AppError && !error.isServerError) {
            log.debug({ socketId: context.socket.id, user: context.user, socketEvent: event, code: error.code }, `Socket.IO ${event} refused: ${error.message}`);
            refuse(ack, error);
            return;
          }
          log.error({ event: 'socket-handler-error', err: error, socketId: context.socket.id, user: context.user, socketEvent: event }, `Socket.IO handler for ${event} failed`);
          const message = error instanceof AppError ? error.message : options.isProduction ? 'Internal server error' : error instanceof Error ? error.message : String(error);
          refuse(ack, new AppError(500, error instanceof AppError ? error.code : 'INTERNAL_ERROR', message));
        }
      });
    },
    contracts: () => ({ ...contracts }),
  };
}
