import type pg from 'pg';

/**
 * A failure to get a connection from the pool: every pool has waited for a free slot
 * (`busy`), or could not open a new connection (`unreachable`). pg reports both as plain
 * Errors with no code, so they are told apart here by the pool's state when the wait began,
 * and carried to db-errors.ts by type, never by message text.
 */
export class DatabaseConnectionError extends Error {
  override name = 'DatabaseConnectionError';
  constructor(
    readonly reason: 'busy' | 'unreachable',
    cause: unknown,
  ) {
    super(`${reason === 'busy' ? 'No free pooled connection' : 'Cannot open a database connection'}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, release: (error?: Error) => void) => void;

/** Makes every connect failure of `pool` (also those behind `pool.query`) a DatabaseConnectionError. */
export function typeConnectErrors(pool: pg.Pool): void {
  const connect = pool.connect.bind(pool) as (callback?: ConnectCallback) => Promise<pg.PoolClient> | undefined;
  const tagged = (error: unknown, wasFull: boolean) => new DatabaseConnectionError(wasFull ? 'busy' : 'unreachable', error);
  const full = () => pool.idleCount === 0 && pool.totalCount >= pool.options.max;
  (pool as { connect: unknown }).connect = (callback?: ConnectCallback) => {
    const wasFull = full();
    if (callback) {
      return connect((error, client, release) => {
        callback(error ? tagged(error, wasFull) : undefined, client, release);
      });
    }
    return (connect() as Promise<pg.PoolClient>).catch((error: unknown) => {
      throw tagged(error, wasFull);
    });
  };
}
