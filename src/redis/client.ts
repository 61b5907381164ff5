import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/env.js';
import type { Logger } from '../observability/logger.js';

/** Where Redis is: REDIS_URL, or the Sentinels that know the primary (config.redis). */
export type RedisTarget = Pick<Config['redis'], 'url' | 'password' | 'sentinel'>;

/**
 * The connection options of a target. In Sentinel mode ioredis asks the Sentinels for the
 * primary on every (re)connect, checks the server it reached is still a primary, and
 * `failoverDetector` listens for Sentinel's +switch-master so a connection whose primary was
 * demoted (not killed: its socket stays open) moves at once instead of at its next error.
 */
function targetOptions(target: RedisTarget): RedisOptions {
  const url = new URL(target.url);
  const password = target.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  if (!target.sentinel) return { ...(target.password === undefined ? {} : { password }) };
  const db = Number(url.pathname.slice(1) || '0');
  return {
    sentinels: target.sentinel.sentinels,
    name: target.sentinel.name,
    sentinelPassword: target.sentinel.password,
    role: 'master',
    username,
    password,
    db: Number.isInteger(db) ? db : 0,
    failoverDetector: true,
    // While no Sentinel answers, ask again at the same capped pace as a lost connection.
    sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
    ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * A Redis connection that never takes the process down: errors are logged (once per outage,
 * not once per retry) and ioredis reconnects by itself with a capped back-off. Pub/sub
 * subscriptions are restored on reconnect (ioredis' autoResubscribe), also to a new primary
 * after a Sentinel failover.
 */
export function createRedis(target: RedisTarget, options: { name: string; logger: Logger; subscriber?: boolean }): Redis {
  const log = options.logger.child({ redis: options.name });
  const common: RedisOptions = {
    connectionName: options.name,
    // A command fails after a few attempts instead of queueing for ever while Redis is down;
    // a subscriber's SUBSCRIBE must instead wait, or a subscription made during an outage
    // would never exist (ioredis only re-subscribes channels it had).
    maxRetriesPerRequest: options.subscriber ? null : 3,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
    ...targetOptions(target),
  };
  // The URL form keeps what REDIS_URL alone always meant (host, port, user, db, rediss://).
  const client = target.sentinel ? new Redis(common) : new Redis(target.url, common);
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
