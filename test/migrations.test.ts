import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { applyMigrations, MigrationError } from '../src/data/migrator.js';
import { adminQuery, createTestDatabase, execFileAsync, ROOT, waitFor, type TestDatabase } from './helpers/services.js';

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
    assert.deepEqual(migrateEvents(first.stdout, 'migration-applied').map((l) => l.migration), ['20261122000000_init', '20261206000000_instance_health']);
    const rowsAfterFirst = await migrationRows(ours);
    const dumpAfterFirst = await schemaDump(ours);

    const second = await execFileAsync('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env, timeout: 120_000 });
    assert.deepEqual(migrateEvents(second.stdout, 'migrations-done').map((l) => [l.applied, l.alreadyApplied]), [[[], 2]]);
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

/** A migrations folder of the test's own: name -> migration.sql. */
function migrationsDir(migrations: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'epc-migrations-'));
  for (const [name, sql] of Object.entries(migrations)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

async function tableExists(db: TestDatabase, table: string): Promise<boolean> {
  return (await adminQuery<{ found: string | null }>('SELECT to_regclass($1) AS found', [table], db.url))[0]?.found !== null;
}

describe('the migrator\'s advisory lock and failures', () => {
  const dbs: TestDatabase[] = [];
  const dirs: string[] = [];
  const freshDatabase = async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    return db;
  };
  const folder = (migrations: Record<string, string>) => {
    const dir = migrationsDir(migrations);
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const db of dbs) await db.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('waits while another session holds Prisma\'s migrate lock, then applies', async () => {
    const db = await freshDatabase();
    const dir = folder({ '001_first': 'CREATE TABLE first (id int);' });
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(72707369)');
      const run = applyMigrations(db.url, dir);
      await waitFor('the migrator to wait for the lock', async () => {
        const rows = await adminQuery<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND l.objid = 72707369 AND NOT l.granted AND d.datname = $1",
          [db.name],
        );
        return rows[0]?.n === 1;
      }, 10_000, 50);
      assert.equal(await tableExists(db, 'first'), false, 'nothing applied while the lock is held');
      await holder.query('SELECT pg_advisory_unlock(72707369)');
      assert.deepEqual((await run).applied, ['001_first']);
    } finally {
      await holder.end();
    }
  });

  it('two migrators started together apply each migration once between them', async () => {
    const db = await freshDatabase();
    // Slow enough that, without the lock, the second would start it before the first recorded it.
    const dir = folder({ '001_slow': 'SELECT pg_sleep(0.5); CREATE TABLE slow (id int);', '002_next': 'CREATE TABLE next (id int);' });
    const reports = await Promise.all([applyMigrations(db.url, dir), applyMigrations(db.url, dir)]);
    assert.deepEqual(reports.map((r) => r.applied).sort((a, b) => b.length - a.length), [['001_slow', '002_next'], []]);
    const rows = await adminQuery<{ migration_name: string }>('SELECT migration_name FROM _prisma_migrations ORDER BY migration_name', [], db.url);
    assert.deepEqual(rows.map((r) => r.migration_name), ['001_slow', '002_next']);
  });

  it('stops at a failing migration, records its error, and refuses to apply later ones until it is resolved', async () => {
    const db = await freshDatabase();
    const dir = folder({
      '001_ok': 'CREATE TABLE ok (id int);',
      '002_bad': 'CREATE TABLE half (id int); SELECT 1 / 0;',
      '003_later': 'CREATE TABLE later (id int);',
    });
    await assert.rejects(applyMigrations(db.url, dir), (error: unknown) => error instanceof MigrationError && /Migration 002_bad failed: division by zero/.test(error.message));
    const rows = await adminQuery<{ migration_name: string; finished: boolean; logs: string | null }>(
      'SELECT migration_name, finished_at IS NOT NULL AS finished, logs FROM _prisma_migrations ORDER BY migration_name',
      [],
      db.url,
    );
    assert.deepEqual(rows, [
      { migration_name: '001_ok', finished: true, logs: null },
      { migration_name: '002_bad', finished: false, logs: 'division by zero' },
    ]);
    assert.deepEqual([await tableExists(db, 'ok'), await tableExists(db, 'half'), await tableExists(db, 'later')], [true, false, false], 'the failed script left nothing half done');

    await assert.rejects(applyMigrations(db.url, dir), (error: unknown) => error instanceof MigrationError && /002_bad failed earlier and was not resolved/.test(error.message));
    assert.equal(await tableExists(db, 'later'), false);
  });
});
