/** Samples pg_stat_activity for one database while something runs; reports the peak connection count. */
import pg from 'pg';
import { PG_ADMIN_URL } from '../../test/helpers/services.js';

export async function peakConnections<T>(database: string, run: () => Promise<T>, intervalMs = 100): Promise<{ result: T; peak: number }> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  let peak = 0;
  const state = { sampling: true };
  const sampler = (async () => {
    while (state.sampling) {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [database]);
      peak = Math.max(peak, rows[0]?.n ?? 0);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  try {
    const result = await run();
    return { result, peak };
  } finally {
    state.sampling = false;
    await sampler;
    await client.end();
  }
}
