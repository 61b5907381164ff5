import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

/**
 * A Redis connection that never takes the process down: errors are logged (once per outage,
 * not once per retry) and ioredis reconnects by itself with a capped back-off. Pub/sub
 * subscriptions are restored on reconnect (ioredis' autoResubscribe).
 */
export function createRedis(url: string, options: { name: string; logger: Logger }): Redis {
  const log = options.logger.child({ redis: options.name });
  const client = new Redis(url, {
    connectionName: options.name,
    // Fail a command after a few attempts instead of queueing it for ever while Redis is down.
    maxRetriesPerRequest: 3,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
  });
  let healthy = true;
  client.on('error', (error: Error) => {
    if (healthy) log.warn({ err: error }, 'Redis connection error; reconnecting');
    healthy = false;
  });
  client.on('ready', () => {
    if (!healthy) log.info('Redis connection restored');
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
