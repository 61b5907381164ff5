/**
 * `npm run db:migration -- <name>`: turns the change made to prisma/schema.prisma since the last
 * migration into prisma/migrations/<timestamp>_<name>/migration.sql, with Prisma's own
 * `migrate diff`, and needs no database and no download from Prisma's servers.
 *
 * Prisma's usual way (`migrate dev --create-only`, or `migrate diff --from-migrations`) replays
 * the migrations into a shadow database, which needs the native schema engine (Prisma 7) or
 * fails with the WebAssembly one (Prisma 6.19 here: "Column type 'char' could not be
 * deserialized"). So the "before" side is a file instead: prisma/migrations/schema-as-migrated.prisma,
 * the schema the migrations produce, which this command rewrites with every migration it
 * writes and test/migrations.test.ts checks against the migrations themselves. The diff of two
 * schema files runs offline in Prisma 6.19 (tools/prisma-v6, installed here on first use); where
 * Prisma 7's schema engine is installed (it can be downloaded), Prisma 7 diffs instead.
 * See docs/database.md.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// Run from dist/scripts too (the build compiles every script); the project root is where package.json is.
const root = existsSync(join(ROOT, 'package.json')) ? ROOT : join(ROOT, '..');
const SCHEMA = join(root, 'prisma', 'schema.prisma');
const MIGRATIONS = join(root, 'prisma', 'migrations');
const SNAPSHOT = join(MIGRATIONS, 'schema-as-migrated.prisma');
const PRISMA_V6_DIR = join(root, 'tools', 'prisma-v6');
const PRISMA_V6 = join(PRISMA_V6_DIR, 'node_modules', '.bin', 'prisma');
const PRISMA_V7 = join(root, 'node_modules', '.bin', 'prisma');
const NAME = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
const AS_OF = /^\/\/ As of migration: (\S+)$/m;

class Refusal extends Error {}

function snapshotText(schema: string, migration: string): string {
  return (
    `// As of migration: ${migration}\n` +
    '// The schema that prisma/migrations produce, written by `npm run db:migration` with each migration\n' +
    '// (docs/database.md). Do not edit: change prisma/schema.prisma, then run that command.\n' +
    schema
  );
}

function migrationNames(): string[] {
  return readdirSync(MIGRATIONS, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(MIGRATIONS, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort();
}

/** Prisma's folder timestamp (UTC, YYYYMMDDHHMMSS), later than the last migration's even if the clock is behind it. */
function timestamp(last: string | undefined): string {
  const format = (date: Date) => date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  let now = new Date();
  const lastStamp = last && /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_/.exec(last);
  if (lastStamp) {
    const [, y, mo, d, h, mi, s] = lastStamp.map(Number) as [number, number, number, number, number, number, number];
    const lastDate = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    if (format(now) <= format(lastDate)) now = new Date(lastDate.getTime() + 1000);
  }
  return format(now);
}

function run(command: string, args: string[], options: ExecFileSyncOptions): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024, ...options }).toString();
}

/** Prisma 7 can diff only with its native schema engine; the same test as scripts/prisma-generate.sh. */
function prisma7CanDiff(): boolean {
  const configured = process.env.PRISMA_SCHEMA_ENGINE_BINARY;
  if (configured) return configured !== process.execPath && existsSync(configured);
  const engines = join(root, 'node_modules', '@prisma', 'engines');
  return existsSync(engines) && readdirSync(engines).some((file) => file.startsWith('schema-engine'));
}

function diffWithPrisma7(from: string, to: string): string {
  return run(PRISMA_V7, ['migrate', 'diff', '--from-schema', from, '--to-schema', to, '--script'], { cwd: root, env: { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' } });
}

function diffWithPrisma6(from: string, to: string, work: string): string {
  if (!existsSync(PRISMA_V6)) {
    console.error('Installing Prisma 6.19 into tools/prisma-v6 (once; from the npm registry only)...');
    execFileSync('npm', ['ci', '--prefix', PRISMA_V6_DIR, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: ['ignore', 2, 2] });
  }
  // Prisma 6 reads the datasource URL from the schema (Prisma 7 from prisma.config.ts); a diff
  // of two schema files never connects, but the schema must name one.
  const withUrl = (file: string, name: string) => {
    const copy = join(work, name);
    const text = readFileSync(file, 'utf8');
    writeFileSync(copy, /\burl\s*=/.test(text) ? text : text.replace(/(datasource\s+\w+\s*\{[^}]*?provider\s*=\s*"[^"]+")/, '$1\n  url      = env("DATABASE_URL")'));
    return copy;
  };
  return run(PRISMA_V6, ['migrate', 'diff', '--from-schema-datamodel', withUrl(from, 'from.prisma'), '--to-schema-datamodel', withUrl(to, 'to.prisma'), '--script'], {
    cwd: PRISMA_V6_DIR,
    env: {
      ...process.env,
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
      // Nothing here needs a query engine; this stops the 6.x CLI downloading one.
      PRISMA_QUERY_ENGINE_LIBRARY: process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  });
}

function main(argv: string[]): void {
  const name = argv[0];
  if (argv.length !== 1 || !name) throw new Refusal('Usage: npm run db:migration -- <name>   e.g. npm run db:migration -- add_message_edited_at');
  if (!NAME.test(name) || name.length > 100) {
    throw new Refusal(`Bad migration name "${name}": use lower-case letters, digits and single underscores (at most 100), e.g. add_message_edited_at`);
  }
  const existing = migrationNames();
  const last = existing.at(-1);
  const clash = existing.find((m) => m.replace(/^\d+_/, '') === name);
  if (clash) throw new Refusal(`A migration named "${name}" exists already (prisma/migrations/${clash}); choose another name`);
  if (!existsSync(SNAPSHOT)) {
    throw new Refusal(`${relative(root, SNAPSHOT)} is missing: it holds the schema the migrations produce. Restore it from git (git checkout -- ${relative(root, SNAPSHOT)})`);
  }
  const snapshot = readFileSync(SNAPSHOT, 'utf8');
  const asOf = AS_OF.exec(snapshot)?.[1];
  if (asOf !== last) {
    throw new Refusal(
      `${relative(root, SNAPSHOT)} describes the schema as of migration ${asOf ?? '(none named)'}, but the last migration is ${last ?? '(none)'}: ` +
        'a migration was added without this command. If prisma/schema.prisma is exactly what the migrations produce, copy it over that file, ' +
        `keeping the first line as "// As of migration: ${last ?? ''}" (test/migrations.test.ts checks the two agree), then run this again`,
    );
  }

  const work = mkdtempSync(join(tmpdir(), 'db-migration-'));
  try {
    const before = join(work, 'before.prisma');
    writeFileSync(before, snapshot);
    let sql: string | undefined;
    let tool: string | undefined;
    let prisma7Failure = '';
    if (prisma7CanDiff()) {
      try {
        sql = diffWithPrisma7(before, SCHEMA);
        tool = 'Prisma 7';
      } catch (error) {
        // An engine that does not run here (another platform's, a stand-in): the same diff with Prisma 6.19.
        prisma7Failure = (error as { stderr?: string }).stderr ?? String(error);
      }
    }
    if (sql === undefined || tool === undefined) {
      if (prisma7Failure) console.error(`Prisma 7's migrate diff failed; diffing with Prisma 6.19 instead:\n${prisma7Failure.trim()}`);
      sql = diffWithPrisma6(before, SCHEMA, work);
      tool = 'Prisma 6.19 (tools/prisma-v6; Prisma 7 has no schema engine here)';
    }
    const statements = sql.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('--'));
    if (statements.length === 0) {
      throw new Refusal(`No change: prisma/schema.prisma describes the same database as the migrations (up to ${last ?? 'none'}). Edit the schema first, then run this again`);
    }
    const folder = `${timestamp(last)}_${name}`;
    mkdirSync(join(MIGRATIONS, folder));
    writeFileSync(join(MIGRATIONS, folder, 'migration.sql'), sql);
    writeFileSync(SNAPSHOT, snapshotText(readFileSync(SCHEMA, 'utf8'), folder));
    console.log(sql.trimEnd());
    console.error(
      `\nWrote prisma/migrations/${folder}/migration.sql (diffed by ${tool}) and updated ${relative(root, SNAPSHOT)}.\n` +
        'Read the SQL (a rename comes out as a drop and an add; make a new NOT NULL column nullable or give it a default),\n' +
        'then `npm run db:migrate` or `npm start` applies it; commit prisma/schema.prisma and both files.',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main(process.argv.slice(2));
} catch (error) {
  if (error instanceof Refusal) {
    console.error(error.message);
    process.exitCode = 2;
  } else {
    const stderr = (error as { stderr?: string }).stderr;
    console.error(stderr ? `Prisma's diff failed:\n${stderr}` : error);
    process.exitCode = 1;
  }
}
