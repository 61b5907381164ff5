import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAb } from './helpers/load.js';
import { adminQuery, createTestDatabase, execFileAsync, freePort, ROOT, TEST_JWT_SECRET, uniqueName, type TestDatabase } from './helpers/services.js';

/**
 * A team's schema change, the documented way (docs/database.md, "Change the schema"): edit
 * prisma/schema.prisma, `npm run db:migration -- <name>`, then `npm start` on the running
 * cluster, which builds, migrates and reloads while it keeps serving. It runs in a copy of the
 * project, so the repository's own prisma folder is never touched.
 */

/** The project as a clone has it (sources, scripts, prisma, the build), sharing the installed packages. */
function projectCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epc-schema-change-'));
  // Timestamps kept: the copied build is up to date, so only the schema change triggers a rebuild.
  const copy = (path: string) => {
    cpSync(join(ROOT, path), join(dir, path), { recursive: true, preserveTimestamps: true });
  };
  for (const path of ['package.json', 'ecosystem.config.cjs', 'prisma.config.ts', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts', 'prisma', 'public', 'dist']) copy(path);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'tools', 'prisma-v6'), { recursive: true });
  for (const file of ['package.json', 'package-lock.json', 'prisma.config.ts']) copy(join('tools', 'prisma-v6', file));
  symlinkSync(join(ROOT, 'tools', 'prisma-v6', 'node_modules'), join(dir, 'tools', 'prisma-v6', 'node_modules'));
  // The copied folders themselves are new; the build is not older than anything in them.
  const now = new Date();
  utimesSync(join(dir, 'dist', '.build-stamp'), now, now);
  return dir;
}

/** What the instances said that was not a request: warnings and errors, for a failure's message. */
function pm2Logs(pm2Home: string): string {
  const read = (file: string) => (existsSync(join(pm2Home, 'logs', file)) ? readFileSync(join(pm2Home, 'logs', file), 'utf8') : '');
  const notable = read('api-out.log').split('\n').filter((line) => /"level":(40|50|60)|"event":"(shutdown|listening|schema)/.test(line));
  return `${notable.slice(-40).join('\n')}\n${read('api-error.log').slice(-3000)}`;
}

describe('a schema change through npm run db:migration, deployed with npm start under load', () => {
  let db: TestDatabase;
  let project: string;
  let pm2Home: string;
  let env: NodeJS.ProcessEnv;
  let baseUrl: string;
  const npm = async (...args: string[]) => execFileAsync('npm', args, { cwd: project, env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });

  before(async () => {
    db = await createTestDatabase();
    project = projectCopy();
    pm2Home = mkdtempSync(join(tmpdir(), 'epc-pm2-'));
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = {
      ...process.env,
      PM2_HOME: pm2Home,
      PORT: String(port),
      HOST: '127.0.0.1',
      API_INSTANCES: '2',
      DATABASE_URL: db.url,
      REDIS_KEY_PREFIX: `${uniqueName('t')}:`,
      JWT_SECRET: TEST_JWT_SECRET,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
    };
    await npm('start');
  });
  after(async () => {
    await execFileAsync(join(ROOT, 'node_modules', '.bin', 'pm2'), ['kill'], { env }).catch(() => undefined);
    rmSync(pm2Home, { recursive: true, force: true });
    rmSync(project, { recursive: true, force: true });
    await db.drop();
  });

  it('refuses a bad name, and a schema without a change', async () => {
    await assert.rejects(npm('run', '--silent', 'db:migration', '--', 'Add Column'), (error: { code: number; stderr: string }) => error.code === 2 && /Bad migration name "Add Column"/.test(error.stderr));
    await assert.rejects(npm('run', '--silent', 'db:migration', '--', 'nothing'), (error: { code: number; stderr: string }) => error.code === 2 && /No change: prisma\/schema.prisma describes the same database/.test(error.stderr));
    assert.deepEqual(readdirSync(join(project, 'prisma', 'migrations')).sort(), readdirSync(join(ROOT, 'prisma', 'migrations')).sort(), 'nothing written');
  });

  it('writes the column\'s migration, and npm start applies it with 0 failed requests, recorded as Prisma records it', async () => {
    const schemaFile = join(project, 'prisma', 'schema.prisma');
    const schema = readFileSync(schemaFile, 'utf8');
    const createdAt = '  createdAt DateTime @default(now()) @map("created_at") @db.Timestamptz(3)\n';
    assert.ok(schema.includes(createdAt), 'the Message model as the test knows it');
    writeFileSync(schemaFile, schema.replace(createdAt, `${createdAt}  editedAt  DateTime? @map("edited_at") @db.Timestamptz(3)\n`));

    const before = readdirSync(join(project, 'prisma', 'migrations'));
    const made = await npm('run', '--silent', 'db:migration', '--', 'add_message_edited_at');
    const added = readdirSync(join(project, 'prisma', 'migrations')).filter((name) => !before.includes(name));
    assert.equal(added.length, 1, made.stderr);
    const [migration = ''] = added;
    assert.match(migration, /^\d{14}_add_message_edited_at$/);
    assert.ok(before.every((name) => !/^\d{14}_/.test(name) || name < migration), 'it sorts after every earlier migration');
    const sqlFile = join(project, 'prisma', 'migrations', migration, 'migration.sql');
    const sql = readFileSync(sqlFile, 'utf8');
    assert.match(sql, /ALTER TABLE "messages" ADD COLUMN\s+"edited_at" TIMESTAMPTZ\(3\);/);
    assert.match(readFileSync(join(project, 'prisma', 'migrations', 'schema-as-migrated.prisma'), 'utf8'), new RegExp(`^// As of migration: ${migration}$`, 'm'));

    // Reads that go to the database, on every instance, through the whole deploy.
    const load = startAb(`${baseUrl}/api/rooms/deploy/messages?limit=5`, { concurrency: 4 });
    let report;
    let deploy;
    try {
      deploy = await npm('start');
    } finally {
      report = await load.stop();
    }
    const what = `${report.raw}\nnpm start:\n${deploy.stdout.slice(-3000)}\n${deploy.stderr.slice(-2000)}\nPM2 logs:\n${pm2Logs(pm2Home)}`;
    assert.ok(report.complete > 0, what);
    assert.equal(report.failed, 0, what);
    assert.equal(report.non2xx, 0, what);

    const columns = await adminQuery<{ data_type: string; is_nullable: string }>(
      "SELECT data_type, is_nullable FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'edited_at'",
      [],
      db.url,
    );
    assert.deepEqual(columns, [{ data_type: 'timestamp with time zone', is_nullable: 'YES' }]);
    const rows = await adminQuery<Record<string, unknown>>(
      'SELECT checksum, applied_steps_count, logs, rolled_back_at, finished_at IS NOT NULL AS finished FROM _prisma_migrations WHERE migration_name = $1',
      [migration],
      db.url,
    );
    assert.deepEqual(rows, [{ checksum: createHash('sha256').update(readFileSync(sqlFile)).digest('hex'), applied_steps_count: 1, logs: null, rolled_back_at: null, finished: true }]);

    // After the deploy, the instances (and the client the build generated from the new schema) still serve.
    const res = await fetch(`${baseUrl}/api/rooms/deploy/messages?limit=5`);
    assert.equal(res.status, 200);
  });
});
