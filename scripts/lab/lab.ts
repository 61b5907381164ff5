import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { applyMigrations, MIGRATIONS_DIR } from '../../src/data/migrator.js';
import { hostEnv, installRelease, npmStart, stopHost } from './hosts.js';
import { createNetwork, removeNetwork } from './network.js';
import { startHaproxy, startPgBouncer, startRedis, stopHaproxy, stopPgBouncer } from './services.js';
import { run } from './shell.js';
import { topology, type LabOptions, type Topology } from './topology.js';

const ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface Lab {
  t: Topology;
  jwtSecret: string;
  budget: number;
  /** The load balancer, as a client reaches it. */
  url: string;
  env(hostId: string, extra?: Record<string, string>): NodeJS.ProcessEnv;
}

interface State {
  jwtSecret: string;
  budget: number;
  /** Variables every host gets besides the lab's own (a test's limits, say). */
  extra: Record<string, string>;
}

function labFrom(t: Topology, state: State): Lab {
  return {
    t,
    ...state,
    url: `http://127.0.0.1:${t.lbPort}`,
    env(hostId, extra) {
      const host = t.hosts.find((h) => h.id === hostId);
      if (!host) throw new Error(`no host ${hostId}`);
      return hostEnv(t, host, { jwtSecret: state.jwtSecret, budget: state.budget, extra: { ...state.extra, ...extra } });
    },
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Checks what the lab needs before touching anything, and names what is missing. */
async function preflight(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab creates network namespaces: run it as root');
  const missing: string[] = [];
  for (const [command, pkg] of [['ip', 'iproute2'], ['haproxy', 'haproxy'], ['pgbouncer', 'pgbouncer'], ['redis-server', 'redis-server'], ['setpriv', 'util-linux']] as const) {
    if (!(await run('sh', ['-c', `command -v ${command}`]).catch(() => ''))) missing.push(pkg);
  }
  if (missing.length > 0) throw new Error(`the lab needs the Debian packages: ${missing.join(' ')} (apt-get install -y ${missing.join(' ')}; RUNLEVEL=1 keeps their services from starting)`);
  if (!existsSync(join(process.cwd(), 'dist/.build-stamp'))) throw new Error('build first: npm run build');
}

/**
 * Brings the lab up: network, Redis with Sentinels, PgBouncer, the database, every host's
 * `npm start` (one after another, as an operator would), then HAProxy in front. Anything that
 * fails takes down what was made. `down` removes everything even after a failed or killed `up`.
 */
export async function up(options: LabOptions & { budget?: number; env?: Record<string, string> } = {}): Promise<Lab> {
  await preflight();
  const t = topology(options);
  if (existsSync(t.dir)) throw new Error(`a lab named ${t.name} exists (${t.dir}): npm run lab -- down${t.name === 'epclab' ? '' : ` --name ${t.name}`}`);
  mkdirSync(t.dir, { recursive: true });
  const state: State = { jwtSecret: randomBytes(24).toString('hex'), budget: options.budget ?? 40, extra: options.env ?? {} };
  writeFileSync(join(t.dir, 'state.json'), JSON.stringify({ ...state, options }));
  const lab = labFrom(t, state);
  try {
    await createNetwork(t);
    await startRedis(t);
    await adminQuery(`CREATE DATABASE "${t.database}"`);
    await applyMigrations(ADMIN_URL.replace(/\/postgres$/, `/${t.database}`), MIGRATIONS_DIR);
    await startPgBouncer(t);
    for (const host of t.hosts) {
      installRelease(t, host);
      await npmStart(t, host, lab.env(host.id));
    }
    await startHaproxy(t);
    return lab;
  } catch (error) {
    await down(options).catch(() => undefined);
    throw error;
  }
}

/** The running lab's handle (for a second command: a test's scenario, `npm run lab -- status`). */
export function attach(options: LabOptions = {}): Lab {
  const t = topology(options);
  const state = JSON.parse(readFileSync(join(t.dir, 'state.json'), 'utf8')) as State;
  return labFrom(t, state);
}

/** Removes every process, namespace, interface, database and file the lab made. Safe to run twice. */
export async function down(options: LabOptions = {}): Promise<void> {
  const t = topology(options);
  await stopHaproxy(t);
  await Promise.all(t.hosts.map((host) => stopHost(t, host)));
  await removeNetwork(t);
  await stopPgBouncer(t);
  await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${t.database}' AND pid <> pg_backend_pid()`).catch(() => undefined);
  await adminQuery(`DROP DATABASE IF EXISTS "${t.database}"`).catch(() => undefined);
  rmSync(t.dir, { recursive: true, force: true });
}
