import { AppError } from '../errors/app-error.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import { errorReason } from '../observability/error-reason.js';
import type { Logger } from '../observability/logger.js';
import { localMigrations } from './migrator.js';

interface MigrationRow {
  migration_name: string;
  finished: boolean;
  rolled_back: boolean;
}

/**
 * Run by every process at start, before it serves: refuses (throws) when the database lacks a
 * migration this build carries, or one failed half-way, so a release whose migration has not
 * run never serves against the old schema. Migrations the build does not know are fine: a
 * newer release migrated first, and its migrations must stay compatible with the release
 * before it (old pods keep serving through a rollout).
 */
export async function checkSchema(prisma: PrismaClient, migrationsDir: string, logger: Logger): Promise<void> {
  const needed = await localMigrations(migrationsDir);
  const [table] = await prisma.$queryRaw<{ present: boolean }[]>`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`;
  const rows = table?.present
    ? await prisma.$queryRaw<MigrationRow[]>`SELECT migration_name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM "_prisma_migrations"`
    : [];
  const applied = new Set(rows.filter((r) => r.finished && !r.rolled_back).map((r) => r.migration_name));
  const failed = rows.filter((r) => !r.finished && !r.rolled_back).map((r) => r.migration_name);
  const missing = needed.filter((name) => !applied.has(name));

  if (missing.length > 0 || failed.length > 0) {
    logger.error(
      { event: 'schema-behind', missing, failed },
      `The database schema is older than this build needs: ${missing.length} migration(s) not applied${failed.length ? `, ${failed.length} failed` : ''}. Run this release's migration first (docs/deployment.md); refusing to serve`,
    );
    throw new AppError(503, 'SCHEMA_BEHIND', `Database schema is behind this build (not applied: ${missing.join(', ') || 'none'}; failed: ${failed.join(', ') || 'none'})`);
  }
  const newer = [...applied].filter((name) => !needed.includes(name)).sort();
  logger.info(
    { event: 'schema-checked', migrations: needed.length, latest: needed.at(-1), newer },
    newer.length ? `Database schema is newer than this build (${newer.length} later migration(s)); serving` : 'Database schema matches this build',
  );
}

export interface SchemaGate {
  /** Resolves once the schema has been found current; until then each call checks again. */
  check(): Promise<void>;
}

/**
 * The schema check as a gate a process can start behind: a schema that is behind fails the
 * start at once (`start`), but a database that cannot be reached yet only defers the check to
 * readiness (or the worker's next job), so an instance started during a database outage waits
 * unready instead of crash-looping.
 */
export function createSchemaGate(prisma: PrismaClient, migrationsDir: string, logger: Logger): SchemaGate & { start(): Promise<void> } {
  let passed = false;
  const check = async () => {
    if (passed) return;
    await checkSchema(prisma, migrationsDir, logger);
    passed = true;
  };
  return {
    check,
    async start() {
      try {
        await check();
      } catch (error) {
        if (error instanceof AppError && error.code === 'SCHEMA_BEHIND') throw error;
        logger.warn({ event: 'schema-check-deferred', reason: errorReason(error) }, 'Cannot check the database schema yet; not ready until it can be checked');
      }
    },
  };
}
