import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import type { Logger } from '../observability/logger.js';
import { withTimeout } from '../lifecycle/timeout.js';

export interface DatabaseOptions {
  url: string;
  poolMax: number;
  /** How long a query waits for a free pooled connection before failing (then answered 503). */
  poolTimeoutMs: number;
  statementTimeoutMs: number;
  /** Shows in pg_stat_activity.application_name, so operators can tell instances apart. */
  applicationName: string;
  logger: Logger;
}

export interface PoolStats {
  max: number;
  total: number;
  idle: number;
  inUse: number;
  waiting: number;
}

export interface Database {
  prisma: PrismaClient;
  ping(timeoutMs: number): Promise<void>;
  poolStats(): PoolStats;
  close(): Promise<void>;
}

/** One pg pool and one PrismaClient per process; the pool size is this instance's share of the budget. */
export function createDatabase(options: DatabaseOptions): Database {
  const pool = new pg.Pool({
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

  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  let closed = false;

  return {
    prisma,
    async ping(timeoutMs) {
      await withTimeout(prisma.$queryRaw`SELECT 1`, timeoutMs, 'database ping');
    },
    poolStats() {
      return {
        max: options.poolMax,
        total: pool.totalCount,
        idle: pool.idleCount,
        inUse: pool.totalCount - pool.idleCount,
        waiting: pool.waitingCount,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
