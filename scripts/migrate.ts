/**
 * `npm run db:migrate`: creates the database if needed and applies pending migrations, once,
 * before PM2 starts the cluster (npm start runs it). Never run from the instances themselves.
 */
import { join } from 'node:path';
import { loadConfigOrExit } from '../src/config/env.js';
import { projectRoot } from '../src/config/package-info.js';
import { applyMigrations, ensureDatabase } from '../src/data/migrator.js';

const config = loadConfigOrExit();
const target = new URL(config.db.url);
const where = `${target.hostname}:${target.port || 5432}${target.pathname}`;
try {
  if (await ensureDatabase(config.db.url)) console.log(`Created database ${where}`);
  const report = await applyMigrations(config.db.url, join(projectRoot, 'prisma', 'migrations'));
  for (const warning of report.warnings) console.warn(`Warning: ${warning}`);
  for (const name of report.applied) console.log(`Applied migration ${name}`);
  if (report.applied.length === 0) console.log(`No pending migrations (${report.alreadyApplied.length} already applied) on ${where}`);
} catch (error) {
  console.error(`Migration failed on ${where}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
