import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminQuery, execFileAsync, freePort, ROOT, waitFor } from './services.js';

/** key = value pairs of each [section] of an ini file (PgBouncer's format; `;` starts a comment). */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section?.[1]) {
      current = sections[section[1]] = {};
      continue;
    }
    const eq = line.indexOf('=');
    current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return sections;
}

export interface PrivatePgBouncer {
  /** postgresql:// URL of the database through PgBouncer. */
  url: string;
  port: number;
  /** The config file it runs with. */
  config: string;
  stop(): Promise<void>;
}

/**
 * PgBouncer (Debian's package) on a free port of its own, in front of the machine's shared
 * PostgreSQL, for one database: the pooling settings of deploy/pgbouncer/pgbouncer.ini, then
 * `overrides`, with its own address, trust auth and files in a temp folder. PgBouncer refuses
 * to run as root, so as root it runs as the postgres user. Never the machine's own PgBouncer.
 */
export async function startPgBouncer(database: string, overrides: Record<string, string> = {}): Promise<PrivatePgBouncer> {
  const shipped = parseIni(readFileSync(join(ROOT, 'deploy/pgbouncer/pgbouncer.ini'), 'utf8')).pgbouncer ?? {};
  const dir = mkdtempSync(join(tmpdir(), 'epc-pgbouncer-'));
  const port = await freePort();
  const settings: Record<string, string> = {
    ...shipped,
    ...overrides,
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: join(dir, 'userlist.txt'),
    admin_users: 'postgres',
    logfile: join(dir, 'pgbouncer.log'),
    pidfile: join(dir, 'pgbouncer.pid'),
  };
  const config = join(dir, 'pgbouncer.ini');
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    config,
    ['[databases]', `${database} = host=127.0.0.1 port=5432 dbname=${database}`, '', '[pgbouncer]', ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`), ''].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(dir, 0o755);
    await execFileAsync('chown', ['-R', 'postgres', dir]);
  }
  const child: ChildProcess = asRoot ? spawn('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', 'pgbouncer', config], { stdio: 'ignore' }) : spawn('pgbouncer', [config], { stdio: 'ignore' });
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const url = `postgresql://postgres@127.0.0.1:${port}/${database}`;
  const stop = async () => {
    if (!spawnError && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('PgBouncer to accept connections', async () => {
      if (spawnError) throw spawnError;
      return (await adminQuery<{ one: number }>('SELECT 1 AS one', [], url))[0]?.one === 1;
    }, 15_000);
  } catch (error) {
    const log = existsSync(settings.logfile ?? '') ? readFileSync(settings.logfile ?? '', 'utf8') : '';
    await stop();
    throw new Error(`PgBouncer did not start: ${String(error)}\n${log}`);
  }
  return { url, port, config, stop };
}
