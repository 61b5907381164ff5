import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { closeRedis, createRedis, type RedisTarget } from './client.js';

/**
 * Every Redis connection a process opens is made here, so readiness can check exactly the
 * ones that carry its traffic and shutdown can close all of them.
 */
export interface RedisConnections {
  /** Commands (locks, PING) and, in the API, the Socket.IO adapter's publisher. */
  commands: Redis;
  /** The Socket.IO adapter's subscriber; only when the Redis adapter is on. */
  subscriber: Redis | undefined;
  /** Every open connection: readiness requires each of them to be up. */
  readonly all: readonly Redis[];
  close(): Promise<void>;
}

export function createRedisConnections(target: RedisTarget, options: { role: string; logger: Logger; subscriber: boolean }): RedisConnections {
  const commands = createRedis(target, { name: options.role, logger: options.logger });
  const subscriber = options.subscriber ? createRedis(target, { name: `${options.role}-sub`, logger: options.logger, subscriber: true }) : undefined;
  const all = subscriber ? [commands, subscriber] : [commands];
  let closing: Promise<void> | undefined;
  return {
    commands,
    subscriber,
    all,
    close() {
      closing ??= Promise.all(all.map(closeRedis)).then(() => undefined);
      return closing;
    },
  };
}

/** A readiness check: every connection is up and answers PING (a subscriber may PING too). */
export async function pingAll(connections: RedisConnections): Promise<void> {
  for (const client of connections.all) {
    // While disconnected, ioredis would queue the PING; answer "not ready" at once instead.
    if (client.status !== 'ready') throw new Error(`Redis connection ${client.options.connectionName ?? ''} is ${client.status}`);
  }
  await Promise.all(connections.all.map((client) => client.ping()));
}
