import type { Redis } from 'ioredis';

/**
 * A number a job carries from one run to the next (where its last run stopped), kept in Redis
 * so that whichever worker takes the next tick continues from it. Read and written inside the
 * tick's lock (scheduler.ts), so two workers never race on it.
 */
export interface JobCursor {
  read(): Promise<number | undefined>;
  write(value: number): Promise<void>;
}

/** `ttlMs` bounds how long a stopped deployment leaves the key behind. */
export function createJobCursor(redis: Redis, key: string, options: { ttlMs: number }): JobCursor {
  return {
    async read() {
      const value = await redis.get(key);
      return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
    },
    async write(value) {
      await redis.set(key, String(value), 'PX', options.ttlMs);
    },
  };
}
