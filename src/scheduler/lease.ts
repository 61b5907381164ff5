import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A job run's hold on its lock. The lock is a Redis key holding a token of this run's own; it
 * is renewed while the run lasts, so a run longer than its interval (a pool wait, a slow
 * statement, a locked table) keeps other workers out. Renewal can still fail (Redis out for
 * longer than the lock's life, a process paused past it), so what a run commits goes through
 * `fencedSet`, which writes only while the lock still holds this run's token: a run that lost
 * its lock commits nothing, whatever it computed.
 */
export interface Lease {
  readonly key: string;
  readonly token: string;
  /** Aborted once a renewal finds the lock gone or another run's: the run should stop early. */
  readonly signal: AbortSignal;
}

export interface HeldLease extends Lease {
  /** Stops renewing. The lock is left to expire, so the interval it stands for stays taken. */
  end(): void;
}

// Extends the lock only if it still holds this run's token.
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";
// Sets KEYS[2] only if the lock KEYS[1] still holds this run's token: 1 if written, 0 if not.
const FENCED_SET = "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3]) return 1 end return 0";

/**
 * Takes the lock `key` for `ttlMs` if no one holds it, and renews it every third of that until
 * `end()`; undefined if another run holds it.
 */
export async function acquireLease(redis: Redis, key: string, ttlMs: number): Promise<HeldLease | undefined> {
  const token = randomUUID();
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
  const lost = new AbortController();
  const renew = async () => {
    try {
      if (Number(await redis.eval(RENEW, 1, key, token, ttlMs)) === 0) lost.abort(new Error(`lock ${key} was lost`));
    } catch {
      // Redis unreachable: the lock may still be ours; fencedSet decides at commit.
    }
  };
  const timer = setInterval(() => void renew(), Math.max(Math.floor(ttlMs / 3), 10));
  timer.unref();
  return {
    key,
    token,
    signal: lost.signal,
    end() {
      clearInterval(timer);
    },
  };
}

/** Writes `key` = `value` (expiring after `ttlMs`) only while `lease` holds its lock. */
export async function fencedSet(redis: Redis, lease: Lease, key: string, value: string, ttlMs: number): Promise<boolean> {
  return Number(await redis.eval(FENCED_SET, 2, lease.key, key, lease.token, value, ttlMs)) === 1;
}
