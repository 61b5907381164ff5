import pg from 'pg';
import { PG_ADMIN_URL, sleep } from './services.js';

export interface ConnectionSampler {
  /** Stops sampling; resolves with the highest count seen. */
  stop(): Promise<number>;
}

/**
 * Counts the connections to database `name` in pg_stat_activity every 20 ms until stopped
 * (from the admin database, so the sampler is never one of them). `exceptPids` leaves out
 * connections the test itself holds.
 */
export function sampleConnections(name: string, exceptPids: number[] = []): ConnectionSampler {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  let peak = 0;
  const state = { running: true };
  const done = (async () => {
    await client.connect();
    while (state.running) {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND NOT (pid = ANY($2::int[]))', [name, exceptPids]);
      peak = Math.max(peak, rows[0]?.n ?? 0);
      await sleep(20);
    }
    await client.end();
  })();
  return {
    async stop() {
      state.running = false;
      await done;
      return peak;
    },
  };
}

export interface LoadReport {
  total: number;
  /** Responses by status; 0 counts requests that got no response (connection refused or reset, timeout). */
  byStatus: Record<number, number>;
}

/**
 * Keeps `concurrency` database reads (GET /api/rooms/:room/messages) in flight against each
 * base URL until stopped, as a steady crowd of clients would. Every request has a timeout.
 */
export function databaseLoad(baseUrls: string[], concurrency: number, room = 'lobby'): { completed: () => number; stop: () => Promise<LoadReport> } {
  const byStatus: Record<number, number> = {};
  let total = 0;
  let running = true;
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    const url = `${baseUrls[i % baseUrls.length] ?? ''}/api/rooms/${room}/messages?limit=5`;
    while (running) {
      let status = 0;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        await sleep(50);
      }
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      total += 1;
    }
  });
  return {
    completed: () => total,
    async stop() {
      running = false;
      await Promise.all(loops);
      return { total, byStatus };
    },
  };
}
