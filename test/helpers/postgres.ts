import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminQuery, execFileAsync, freePort } from './services.js';

const BIN = '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  /** postgresql:// URL of its `postgres` database. */
  adminUrl: string;
  /** The URL of another database on it. */
  urlOf(database: string): string;
  start(): Promise<void>;
  /** Immediate shutdown: what a crash or a lost host looks like to the clients. */
  stop(): Promise<void>;
  /** Stops it and deletes its files. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL server of the test's own (initdb into a temp folder, on a free port, trust
 * auth, socket in that folder), which the test may stop; never the machine's shared one.
 * PostgreSQL refuses to run as root, so as root it runs as the postgres user.
 */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'epc-postgres-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(dir, 0o755);
    await execFileAsync('chown', ['postgres', dir]);
  }
  const run = (command: string, args: string[]) =>
    asRoot ? execFileAsync('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', join(BIN, command), ...args]) : execFileAsync(join(BIN, command), args);
  await run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const url = (database: string) => `postgresql://postgres@127.0.0.1:${port}/${database}`;
  const stop = async () => {
    await run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
  };
  return {
    adminUrl: url('postgres'),
    urlOf: url,
    async start() {
      await run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
      await adminQuery('SELECT 1', [], url('postgres'));
    },
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
