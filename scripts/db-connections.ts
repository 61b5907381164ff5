/**
 * Prints, as JSON, the PostgreSQL connections this deployment holds right now: every
 * connection whose application_name is `api-<n>` or `worker` (src/data/database.ts sets them).
 * Used by check-cluster.sh to compare against DB_CONNECTION_BUDGET.
 */
import pg from 'pg';
import { loadConfigOrExit } from '../src/config/env.js';

const config = loadConfigOrExit();
const client = new pg.Client({ connectionString: config.db.url, application_name: 'check-cluster' });
try {
  await client.connect();
  const { rows } = await client.query<{ application_name: string; n: number }>(
    `SELECT application_name, count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND (application_name LIKE 'api-%' OR application_name = 'worker')
      GROUP BY application_name ORDER BY application_name`,
  );
  const byApplication = Object.fromEntries(rows.map((r) => [r.application_name, r.n]));
  const total = rows.reduce((sum, r) => sum + r.n, 0);
  console.log(JSON.stringify({ total, budget: config.db.connectionBudget, byApplication }));
} catch (error) {
  console.error(`Cannot count connections: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await client.end().catch(() => undefined);
}
