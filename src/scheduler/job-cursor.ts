import type { Redis } from 'ioredis';
import { fencedSet, type Lease } from './lease.js';

/**
 * A number a job carries from one run to the next (where its last run stopped), kept in Redis
 * so that whichever worker takes the next tick continues from it. A write is fenced by the
 * run's lease (lease.ts): a run that lost its lock to another worker cannot move the cursor,
 * so two runs that read the same cursor never both commit a window from it.
 */
export interface JobCursor {
  read(): Promise<number | undefined>;
  /** False, and nothing written, if `lease` no longer holds its lock. */
  write(value: number, lease: Lease): Promise<boolean>;
}

/** `ttlMs` bounds how long a stopped deployment leaves the key behind. */
export function createJobCursor(redis: Redis, key: string, options: { ttlMs: number }): JobCursor {
  return {
    async read() {
      const value = await redis.get(key);
      return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
    },
    write(value, lease) {
      return fencedSet(redis, lease, key, String(value), options.ttlMs);
    },
  };
}
