import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminQuery, createTestDatabase, execFileAsync, ROOT, type TestDatabase } from './helpers/services.js';

/**
 * Our migrator (src/data/migrator.ts) must leave exactly what Prisma leaves. The reference is
 * Prisma's own CLI: 6.19 in tools/prisma-v6, whose WebAssembly schema engine runs here (the
 * 7.x CLI needs a native binary this machine cannot download).
 */
const PRISMA_V6 = join(ROOT, 'tools', 'prisma-v6');

async function prismaV6(databaseUrl: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(join(PRISMA_V6, 'node_modules', '.bin', 'prisma'), args, {
    cwd: PRISMA_V6,
    // generate is never run by these commands; this only stops the CLI fetching a query engine.
    env: { ...process.env, DATABASE_URL: databaseUrl, PRISMA_QUERY_ENGINE_LIBRARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
    timeout: 120_000,
  });
  return stdout;
}

/** The schema as pg_dump prints it, without the lines that name the database or vary by run. */
async function schemaDump(db: TestDatabase, options: { withoutMigrationsTable?: boolean } = {}): Promise<string> {
  const args = ['--schema-only', '--no-owner', '--no-privileges', db.url];
  if (options.withoutMigrationsTable) args.splice(0, 0, '--exclude-table=_prisma_migrations');
  const { stdout } = await execFileAsync('pg_dump', args);
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('--') && !line.startsWith('SET ') && !line.startsWith('SELECT pg_catalog.set_config') && !line.startsWith('\\'))
    .join('\n');
}

/** The migrator's JSON log lines (stdout is not a terminal here) with a given event. */
function migrateEvents(stdout: string, event: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.event === event);
}

async function migrationRows(db: TestDatabase) {
  return adminQuery<Record<string, unknown>>(
    'SELECT migration_name, checksum, applied_steps_count, logs, rolled_back_at, finished_at IS NOT NULL AS finished, finished_at FROM _prisma_migrations ORDER BY migration_name',
    [],
    db.url,
  );
}

describe('migrations', () => {
  const dbs: TestDatabase[] = [];
  let schemaDir: string;
  before(async () => {
    for (let i = 0; i < 3; i += 1) dbs.push(await createTestDatabase());
    // Prisma 6 wants the URL in the schema's datasource; Prisma 7 wants it in prisma.config.ts.
    schemaDir = mkdtempSync(join(tmpdir(), 'epc-schema-'));
    const schema = readFileSync(join(ROOT, 'prisma', 'schema.prisma'), 'utf8').replace('provider = "postgresql"', 'provider = "postgresql"\n  url      = env("DATABASE_URL")');
    writeFileSync(join(schemaDir, 'schema.prisma'), schema);
    cpSync(join(ROOT, 'prisma', 'migrations'), join(schemaDir, 'migrations'), { recursive: true });
  });
  after(async () => {
    for (const db of dbs) await db.drop();
    rmSync(schemaDir, { recursive: true, force: true });
  });

  it('npm run db:migrate applies every migration on an empty database, and a second run does nothing', async () => {
    const [ours] = dbs as [TestDatabase];
    const env = { ...process.env, DATABASE_URL: ours.url };
    const first = await execFileAsync('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env, timeout: 120_000 });
    assert.deepEqual(migrateEvents(first.stdout, 'migration-applied').map((l) => l.migration), ['20261122000000_init']);
    const rowsAfterFirst = await migrationRows(ours);
    const dumpAfterFirst = await schemaDump(ours);

    const second = await execFileAsync('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env, timeout: 120_000 });
    assert.deepEqual(migrateEvents(second.stdout, 'migrations-done').map((l) => [l.applied, l.alreadyApplied]), [[[], 1]]);
    assert.equal(migrateEvents(second.stdout, 'migration-applied').length, 0);
    assert.deepEqual(await migrationRows(ours), rowsAfterFirst);
    assert.equal(await schemaDump(ours), dumpAfterFirst);
  });

  it('leaves the same schema and _prisma_migrations rows as prisma migrate deploy', async () => {
    const [ours, prismas] = dbs as [TestDatabase, TestDatabase];
    await prismaV6(prismas.url, 'migrate', 'deploy', '--schema', join(schemaDir, 'schema.prisma'));
    assert.equal(await schemaDump(ours), await schemaDump(prismas));
    const strip = (rows: Record<string, unknown>[]) => rows.map(({ finished_at, ...rest }) => rest);
    assert.deepEqual(strip(await migrationRows(ours)), strip(await migrationRows(prismas)));
  });

  it('prisma migrate status accepts what our migrator applied', async () => {
    const [ours] = dbs as [TestDatabase];
    const status = await prismaV6(ours.url, 'migrate', 'status', '--schema', join(schemaDir, 'schema.prisma'));
    assert.match(status, /Database schema is up to date!/);
  });

  it('equals what the Prisma schema describes (Prisma\'s own diff from an empty database)', async () => {
    const [ours, , fromSchema] = dbs as [TestDatabase, TestDatabase, TestDatabase];
    const sql = await prismaV6(fromSchema.url, 'migrate', 'diff', '--from-empty', '--to-schema-datamodel', join(schemaDir, 'schema.prisma'), '--script');
    assert.match(sql, /CREATE TABLE "messages"/);
    await adminQuery(sql, [], fromSchema.url);
    assert.equal(await schemaDump(ours, { withoutMigrationsTable: true }), await schemaDump(fromSchema));
  });
});
