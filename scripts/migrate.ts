/**
 * `npm run db:migrate`, and each release's migration job: creates the database if needed and
 * applies pending migrations, once, before the release's processes start (they refuse to serve
 * an older schema). Never run from the instances themselves. It connects to
 * MIGRATION_DATABASE_URL when set (PostgreSQL itself, when DATABASE_URL goes through
 * PgBouncer), and needs no JWT secret, so a production image runs it with database access only.
 */
import { loadConfigOrExit } from '../src/config/env.js';
import { applyMigrations, ensureDatabase, MIGRATIONS_DIR } from '../src/data/migrator.js';
import { createProcessLogger } from '../src/observability/logger.js';

const config = loadConfigOrExit({ jwtSecretRequired: false });
const logger = createProcessLogger(config, { role: 'migrate' });
const target = new URL(config.db.migrationUrl);
const database = `${target.hostname}:${target.port || 5432}${target.pathname}`;
try {
  if (await ensureDatabase(config.db.migrationUrl)) logger.info({ event: 'database-created', database }, `Created database ${database}`);
  const report = await applyMigrations(config.db.migrationUrl, MIGRATIONS_DIR);
  for (const warning of report.warnings) logger.warn({ event: 'migration-warning', database }, warning);
  for (const name of report.applied) logger.info({ event: 'migration-applied', migration: name, database }, `Applied migration ${name}`);
  logger.info(
    { event: 'migrations-done', database, applied: report.applied, alreadyApplied: report.alreadyApplied.length },
    report.applied.length === 0 ? `No pending migrations (${report.alreadyApplied.length} already applied) on ${database}` : `Applied ${report.applied.length} migration(s) on ${database}`,
  );
} catch (error) {
  logger.fatal({ event: 'migration-failed', database, err: error }, `Migration failed on ${database}: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
