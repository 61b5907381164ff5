import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

/**
 * A Redis connection that never takes the process down: errors are logged (once per outage,
 * not once per retry) and ioredis reconnects by itself with a capped back-off. Pub/sub
 * subscriptions are restored on reconnect (ioredis' autoResubscribe).
 */
export function createRedis(url: string, options: { name: string; logger: Logger; subscriber?: boolean }): Redis {
  const log = options.logger.child({ redis: options.name });
  const client = new Redis(url, {
    connectionName: options.name,
    // A command fails after a few attempts instead of queueing for ever while Redis is down;
    // a subscriber's SUBSCRIBE must instead wait, or a subscription made during an outage
    // would never exist (ioredis only re-subscribes channels it had).
    maxRetriesPerRequest: options.subscriber ? null : 3,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
  });
  let healthy = true;
  client.on('error', (error: Error) => {
    if (healthy) log.warn({ event: 'redis-error', err: error }, 'Redis connection error; reconnecting');
    healthy = false;
  });
  client.on('ready', () => {
    if (!healthy) log.info({ event: 'redis-restored' }, 'Redis connection restored');
    healthy = true;
  });
  return client;
}

/** Closes a client politely (QUIT), or drops it if Redis does not answer. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

// Commands the Socket.IO Redis adapter and emitter send without awaiting the result.
const UNAWAITED = new Set(['publish', 'subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe']);

/**
 * For a client handed to a library that fires commands and forgets them (the Socket.IO Redis
 * adapter and emitter). While Redis is down those commands reject, and an unhandled
 * rejection is fatal in this project; here the failure is logged (the event is lost) instead,
 * and `onFailure` told, so the loss can be made good (realtime/fan-out-gaps.ts).
 */
export function guardUnawaitedCommands(client: Redis, logger: Logger, onFailure?: (command: string) => void): Redis {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !UNAWAITED.has(property) || typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((error: unknown) => {
          logger.warn({ err: error, command: property }, `Redis ${property} failed; the event did not reach other instances`);
          onFailure?.(property);
          return undefined;
        });
    },
  });
}
