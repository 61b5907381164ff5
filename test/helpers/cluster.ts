import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogLine } from './api.js';
import { execFileAsync, freePort, ROOT, TEST_JWT_SECRET, uniqueName, waitFor } from './services.js';

import type { Pm2Process } from '../../scripts/pm2.js';

export type { Pm2Process };

export interface Cluster {
  baseUrl: string;
  port: number;
  pm2Home: string;
  env: NodeJS.ProcessEnv;
  pm2(...args: string[]): Promise<string>;
  jlist(): Promise<Pm2Process[]>;
  /** Everything the apps logged to stdout so far (PM2's merged log files). */
  logs(app?: string): string;
  /** The same, parsed: tests match fields (an event), not wording. */
  logLines(app?: string): LogLine[];
  stop(): Promise<void>;
}

const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2');

export interface ClusterOptions {
  instances: number;
  databaseUrl: string;
  env?: Record<string, string>;
  /** Start only the API app (no background worker). */
  apiOnly?: boolean;
  /** Start the API entry with plain `pm2 start` (fork mode, one process) instead of the ecosystem file. */
  forkMode?: boolean;
}

/**
 * The whole lines of an app's out logs: one file per process (`api-out-<pm_id>.log`, the
 * ecosystem file sets merge_logs: false) or one file (`api-out.log`, a fork-mode app), merged
 * in the order of their `time` fields. The last line of a file may still be being written.
 */
function mergedLogLines(dir: string, app: string): string[] {
  const name = new RegExp(`^${app}-out(-\\d+)?\\.log$`);
  const timed: { time: string; line: string }[] = [];
  for (const file of existsSync(dir) ? readdirSync(dir).filter((f) => name.test(f)) : []) {
    const text = readFileSync(join(dir, file), 'utf8');
    let time = '';
    for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
      if (line === '') continue;
      time = /"time":"([^"]+)"/.exec(line)?.[1] ?? time;
      timed.push({ time, line });
    }
  }
  return timed.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0)).map((t) => t.line);
}

/**
 * Starts the apps the way a user does (scripts/start.sh: migrate, then pm2 startOrReload of
 * ecosystem.config.cjs), under a PM2_HOME of its own so no other daemon is touched.
 * stop() runs `pm2 kill` for that PM2_HOME; it is safe to call twice.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const pm2Home = mkdtempSync(join(tmpdir(), 'epc-pm2-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PM2_HOME: pm2Home,
    PORT: String(port),
    HOST: '127.0.0.1',
    API_INSTANCES: String(options.instances),
    DATABASE_URL: options.databaseUrl,
    REDIS_KEY_PREFIX: `${uniqueName('t')}:`,
    JWT_SECRET: TEST_JWT_SECRET,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const pm2 = async (...args: string[]) => (await execFileAsync(PM2, args, { env, cwd: ROOT, maxBuffer: 32 * 1024 * 1024 })).stdout;
  let stopped = false;
  const cluster: Cluster = {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    pm2Home,
    env,
    pm2,
    async jlist() {
      const out = await pm2('jlist');
      return JSON.parse(out.slice(out.indexOf('['))) as Pm2Process[];
    },
    logs(app = 'api') {
      return mergedLogLines(join(pm2Home, 'logs'), app).join('\n');
    },
    logLines(app = 'api') {
      return mergedLogLines(join(pm2Home, 'logs'), app).map((line) => JSON.parse(line) as LogLine);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pm2('kill').catch(() => undefined);
      rmSync(pm2Home, { recursive: true, force: true });
    },
  };
  try {
    if (options.forkMode) await pm2('start', 'dist/src/main.js', '--name', env.API_NAME ?? 'api');
    else await execFileAsync('bash', ['scripts/start.sh', ...(options.apiOnly ? ['--only', env.API_NAME ?? 'api'] : [])], { env, cwd: ROOT, timeout: 120_000 });
    await waitFor('the cluster to answer /health', async () => (await fetch(`${cluster.baseUrl}/health`)).ok);
  } catch (error) {
    const logs = cluster.logs();
    await cluster.stop();
    throw new Error(`Cluster did not start: ${String(error)}\n${logs.slice(-4000)}`);
  }
  return cluster;
}

/**
 * Calls `path` n times on fresh connections and returns the bodies. Each call has a timeout,
 * as any client should: a connection the node:cluster primary hands to a worker that has just
 * been SIGKILLed is never answered (a Node core race), and fetch would wait 300 s.
 */
export async function sample<T>(baseUrl: string, path: string, n: number, headers: Record<string, string> = {}): Promise<T[]> {
  const bodies: T[] = [];
  for (let i = 0; i < n; i += 1) {
    const res = await fetch(`${baseUrl}${path}`, { headers: { connection: 'close', ...headers }, signal: AbortSignal.timeout(5000) });
    bodies.push((await res.json()) as T);
  }
  return bodies;
}
