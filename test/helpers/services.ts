import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { applyMigrations, MIGRATIONS_DIR } from '../../src/data/migrator.js';

export const execFileAsync = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The machine's shared services; tests only ever add their own databases and key prefixes to them. */
export const PG_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';
/** Tests sign tokens with this and start instances with it. */
export const TEST_JWT_SECRET = 'test-secret-for-integration-tests-only-0123456789';

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
}

export async function adminQuery<R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], url = PG_ADMIN_URL): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A database of this test run's own; dropped (its connections terminated first) at the end.
 * `migrated` applies the project's migrations, as `npm start` would before any instance runs.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = uniqueName('epc_test');
  await adminQuery(`CREATE DATABASE "${name}"`);
  const url = `postgresql://postgres@127.0.0.1:5432/${name}`;
  if (options.migrated) await applyMigrations(url, MIGRATIONS_DIR);
  return {
    name,
    url,
    async drop() {
      await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await adminQuery(`DROP DATABASE IF EXISTS "${name}"`);
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export interface PrivateRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /** SIGKILL, as a crash or an outage would. */
  kill(): Promise<void>;
}

/** A Redis server of the test's own on a free port, which the test may kill; never the shared one. */
export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const ping = async () => (await execFileAsync('redis-cli', ['-p', String(port), 'ping'])).stdout.trim() === 'PONG';
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitFor('private redis to answer', ping, 10_000, 100);
    },
    async kill() {
      // Already gone (a test that killed it and failed before starting it again): nothing to wait for.
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
