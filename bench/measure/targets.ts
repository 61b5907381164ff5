/**
 * Everything the bench loads runs under PM2 in cluster mode with a PM2_HOME of its own: the app
 * as `npm start` runs it (test/helpers/cluster.ts), and the reference apps in bench/apps.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../test/helpers/cluster.js';
import { execFileAsync, freePort, ROOT, TEST_JWT_SECRET, uniqueName, waitFor } from '../../test/helpers/services.js';
import type { Pm2Process } from '../../scripts/pm2.js';

export interface Target {
  name: string;
  baseUrl: string;
  /** The instances' pids (of the app named `app`). */
  pids(app?: string): Promise<number[]>;
  /** PM2's daemon, which also carries the instances' stdout into the log files. */
  daemonPid(): number;
  pm2(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2');

function daemonPid(pm2Home: string): number {
  return Number(readFileSync(join(pm2Home, 'pm2.pid'), 'utf8').trim());
}

async function pidsOf(pm2: (...args: string[]) => Promise<string>, app: string): Promise<number[]> {
  const out = await pm2('jlist');
  const list = JSON.parse(out.slice(out.indexOf('['))) as Pm2Process[];
  return list.filter((p) => p.name === app && p.pm2_env.status === 'online').map((p) => p.pid);
}

/** The settings a production deployment runs with; the rate limits are the only change (see docs/benchmarks.md). */
export const PRODUCTION_ENV = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  JWT_SECRET: TEST_JWT_SECRET,
  // API_RATE_LIMIT is off by default; the per-user write limit (60/min) would refuse the write benchmark.
  API_RATE_LIMIT: '0',
  WRITE_RATE_LIMIT: '0',
};

/** The app with its worker, as `npm start` runs it, with production settings. */
export async function startApp(name: string, options: { instances: number; databaseUrl: string; apiOnly?: boolean; env?: Record<string, string> }): Promise<Target & { cluster: Cluster }> {
  const cluster = await startCluster({ instances: options.instances, databaseUrl: options.databaseUrl, apiOnly: options.apiOnly, env: { ...PRODUCTION_ENV, ...options.env } });
  return {
    name,
    cluster,
    baseUrl: cluster.baseUrl,
    pids: (app = 'api') => pidsOf((...args) => cluster.pm2(...args), app),
    daemonPid: () => daemonPid(cluster.pm2Home),
    pm2: (...args) => cluster.pm2(...args),
    stop: () => cluster.stop(),
  };
}

/** A reference app from bench/apps (compiled to dist/bench/apps by the build) in PM2 cluster mode. */
export async function startReference(name: string, script: string, options: { instances: number; env?: Record<string, string> }): Promise<Target> {
  const pm2Home = mkdtempSync(join(tmpdir(), 'epc-pm2-bench-'));
  const port = await freePort();
  const env = { ...process.env, PM2_HOME: pm2Home, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production', REDIS_KEY_PREFIX: `${uniqueName('bench')}:`, ...options.env };
  const pm2 = async (...args: string[]) => (await execFileAsync(PM2, args, { env, cwd: ROOT, maxBuffer: 32 * 1024 * 1024 })).stdout;
  const baseUrl = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await pm2('kill').catch(() => undefined);
    rmSync(pm2Home, { recursive: true, force: true });
  };
  try {
    await pm2('start', join(ROOT, 'dist', 'bench', 'apps', `${script}.js`), '--name', 'app', '-i', String(options.instances), '--merge-logs');
    await waitFor(`${name} to answer`, async () => (await fetch(`${baseUrl}/health`)).ok && (await pidsOf(pm2, 'app')).length === options.instances);
  } catch (error) {
    await stop();
    throw error;
  }
  return { name, baseUrl, pids: (app = 'app') => pidsOf(pm2, app), daemonPid: () => daemonPid(pm2Home), pm2, stop };
}
