import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';
import type { Logger } from '../observability/logger.js';
import { withTimeout } from '../lifecycle/timeout.js';
import { typeConnectErrors } from './connection-errors.js';
import { ResizablePool } from './resizable-pool.js';

export interface DatabaseOptions {
  url: string;
  /** The pool's first size; `resize` changes it while it serves (0: wait for a size). */
  poolMax: number;
  /** How long a query waits for a free pooled connection before failing (then answered 503). */
  poolTimeoutMs: number;
  /** Sent as the statement_timeout startup parameter; 0 sends none (pg skips a falsy value). */
  statementTimeoutMs: number;
  /** Shows in pg_stat_activity.application_name, so operators can tell instances apart. */
  applicationName: string;
  logger: Logger;
}

export interface PoolStats {
  max: number;
  total: number;
  /** Connections on the server, those being opened or closed included: what pg_stat_activity counts. */
  open: number;
  idle: number;
  inUse: number;
  waiting: number;
}

export interface Database {
  prisma: PrismaClient;
  /** Resolves if PostgreSQL answers: a query that just succeeded counts, else a `SELECT 1` within the timeout. */
  ping(timeoutMs: number): Promise<void>;
  poolStats(): PoolStats;
  /** Sets the pool's size at once: growing serves waiting queries, shrinking closes the excess as it frees up. */
  resize(max: number): void;
  close(): Promise<void>;
}

/**
 * One pg pool and one PrismaClient per process. The pool's size is given from outside (the
 * cluster feature decides each process's share of the connection budget) and can change.
 */
export function createDatabase(options: DatabaseOptions): Database {
  const pool = new ResizablePool({
    connectionString: options.url,
    max: options.poolMax,
    connectionTimeoutMillis: options.poolTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs,
    application_name: options.applicationName,
  });
  // An idle client's connection can drop (PostgreSQL restart, network); without a listener
  // pg re-emits that on the pool and it would crash the process.
  pool.on('error', (error) => { options.logger.warn({ err: error }, 'PostgreSQL idle connection error'); });
  typeConnectErrors(pool);

  // A client handed back without an error has just run its queries. Under load the pool is
  // saturated and a ping would queue behind the traffic (then time out, and an instance that
  // serves would look unready, holding up a reload), so a recent success answers for it.
  let lastSuccess = 0;
  pool.on('release', (error) => {
    if (!(error instanceof Error)) lastSuccess = performance.now();
  });

  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  let closed = false;

  return {
    prisma,
    async ping(timeoutMs) {
      if (performance.now() - lastSuccess < timeoutMs) return;
      await withTimeout(prisma.$queryRaw`SELECT 1`, timeoutMs, 'database ping');
    },
    poolStats() {
      return {
        max: pool.size,
        total: pool.totalCount,
        open: pool.openCount,
        idle: pool.idleCount,
        inUse: pool.totalCount - pool.idleCount,
        waiting: pool.waitingCount,
      };
    },
    resize(max) {
      pool.resize(max);
    },
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
