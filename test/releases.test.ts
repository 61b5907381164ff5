import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localMigrations, MIGRATIONS_DIR } from '../src/data/migrator.js';
import { startTestApi, type LogLine, type TestApi } from './helpers/api.js';
import { spawnLogged, type LoggedProcess } from './helpers/process.js';
import { adminQuery, createTestDatabase, freePort, ROOT, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

/**
 * Two releases against one real database, each run the way its image runs it: the release's
 * migration first (`node dist/scripts/migrate.js`, NODE_ENV=production, database access only),
 * then its processes, which refuse to serve a schema older than the one they carry.
 * Release 1 is this build; release 2 is a copy of it with one more migration, as the next
 * image would be.
 */
// Named and shaped so it follows, and never collides with, any migration the project has.
const NEW_MIGRATION = '99991231235959_release_test_column';

/** A copy of the built app, as an image holds it, with one more migration. */
function nextRelease(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epc-release-'));
  for (const file of ['package.json', 'ecosystem.config.cjs']) cpSync(join(ROOT, file), join(dir, file));
  for (const folder of ['dist', 'prisma']) cpSync(join(ROOT, folder), join(dir, folder), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'prisma', 'migrations', NEW_MIGRATION));
  // Additive, so release 1 keeps working on the new schema through the rollout.
  writeFileSync(join(dir, 'prisma', 'migrations', NEW_MIGRATION, 'migration.sql'), 'ALTER TABLE "messages" ADD COLUMN "release_test_column" TIMESTAMP(3);\n');
  return dir;
}

/** The migration job of a release: only the direct database URL, no secret, production. */
async function migrate(release: string, db: TestDatabase): Promise<LogLine[]> {
  const run = spawnLogged(process.execPath, ['dist/scripts/migrate.js'], {
    cwd: release,
    // DATABASE_URL points nowhere: the migrator must use MIGRATION_DATABASE_URL.
    env: { NODE_ENV: 'production', MIGRATION_DATABASE_URL: db.url, DATABASE_URL: 'postgresql://app@127.0.0.1:1/not_here' },
  });
  assert.equal(await run.exitWithin(60_000), 0, run.output());
  return run.logs();
}

/** One process of a release (an API instance or the worker) on its own, as PM2 would run it. */
async function startProcess(release: string, entry: 'main' | 'worker-main', db: TestDatabase): Promise<LoggedProcess & { port: number }> {
  const port = await freePort();
  const run = spawnLogged(process.execPath, [`dist/src/${entry}.js`], {
    cwd: release,
    env: { NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, REDIS_KEY_PREFIX: `${uniqueName('t')}:` },
  });
  return { ...run, port };
}

const events = (logs: LogLine[], event: string) => logs.filter((l) => l.event === event);

describe('releases', () => {
  let db: TestDatabase;
  let release2: string;
  let release1Api: TestApi | undefined;
  const running: LoggedProcess[] = [];

  before(async () => {
    db = await createTestDatabase();
    release2 = nextRelease();
  });
  after(async () => {
    for (const run of running) if (run.child.exitCode === null) run.child.kill('SIGKILL');
    await release1Api?.stop();
    await db.drop();
    rmSync(release2, { recursive: true, force: true });
  });

  it('release 1: its migration job applies every migration, in production without the JWT secret, logging JSON lines', async () => {
    const logs = await migrate(ROOT, db);
    const all = await localMigrations(MIGRATIONS_DIR);
    assert.deepEqual(events(logs, 'migration-applied').map((l) => l.migration), all);
    assert.deepEqual(events(logs, 'migrations-done')[0]?.applied, all);
    release1Api = await startTestApi(db.url);
    assert.deepEqual(events(release1Api.logs, 'schema-checked')[0]?.newer, []);
  });

  it('release 2: an API instance and the worker started before its migration refuse to serve, naming the missing migration', async () => {
    for (const entry of ['main', 'worker-main'] as const) {
      const early = await startProcess(release2, entry, db);
      running.push(early);
      assert.equal(await early.exitWithin(30_000), 1, `${entry} exits 1 for the process manager to retry`);
      const logs = early.logs();
      assert.deepEqual(events(logs, 'schema-behind')[0]?.missing, [NEW_MIGRATION], entry);
      assert.ok(logs.some((l) => l.level === 'fatal'), `${entry}: the refusal ends the start with a fatal line`);
      assert.equal(events(logs, 'listening').length, 0, `${entry} never listened`);
    }
  });

  it('release 2: its migration job applies only the new migration, while release 1 keeps serving', async () => {
    const logs = await migrate(release2, db);
    assert.deepEqual(events(logs, 'migration-applied').map((l) => l.migration), [NEW_MIGRATION]);
    assert.equal(events(logs, 'migrations-done')[0]?.alreadyApplied, (await localMigrations(MIGRATIONS_DIR)).length);
    const rows = await adminQuery<{ migration_name: string }>('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name', [], db.url);
    assert.deepEqual(rows.map((r) => r.migration_name), [...(await localMigrations(MIGRATIONS_DIR)), NEW_MIGRATION]);
    assert.ok(release1Api);
    const res = await fetch(`${release1Api.url}/api/rooms/lobby/messages`);
    assert.equal(res.status, 200, 'release 1 reads the migrated table');
  });

  it('release 2 then serves, and release 1 pods that start now accept the newer schema', async () => {
    const api = await startProcess(release2, 'main', db);
    running.push(api);
    await waitFor('release 2 to serve /ready', async () => (await fetch(`http://127.0.0.1:${api.port}/ready`)).ok);
    assert.deepEqual(events(api.logs(), 'schema-checked')[0]?.newer, []);
    api.child.kill('SIGTERM');
    assert.equal(await api.exitWithin(30_000), 0);

    const late = await startTestApi(db.url);
    try {
      assert.deepEqual(events(late.logs, 'schema-checked')[0]?.newer, [NEW_MIGRATION]);
      await waitFor('release 1 to serve /ready', async () => (await fetch(`${late.url}/ready`)).ok);
    } finally {
      await late.stop();
    }
  });

  it('running a release\'s migration job again applies nothing', async () => {
    const logs = await migrate(release2, db);
    assert.equal(events(logs, 'migration-applied').length, 0);
    assert.deepEqual(events(logs, 'migrations-done')[0]?.applied, []);
  });
});

describe('a migration that failed half-way', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase({ migrated: true });
    // What the migrator records when a migration's SQL fails: no finished_at, no rollback.
    await adminQuery("INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count, logs) VALUES ('f', 'x', '20261201000000_broken', now(), 0, 'syntax error')", [], db.url);
  });
  after(async () => {
    await db.drop();
  });

  it('stops every release from serving until it is resolved', async () => {
    const outcome = await startTestApi(db.url).catch((error: unknown) => error as Error & { code?: string });
    if (!(outcome instanceof Error)) {
      await outcome.stop();
      assert.fail('an instance served on a database with a failed migration');
    }
    assert.equal(outcome.code, 'SCHEMA_BEHIND');
    assert.match(outcome.message, /20261201000000_broken/);
  });
});
