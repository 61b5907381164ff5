/**
 * What the operator scripts (deploy.ts, check-cluster.ts) share about PM2 and the ecosystem
 * file: the project's own pm2 binary, `pm2 jlist`, the apps as the PM2 CLI reads them, and
 * asking every instance behind PM2's round-robin.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../src/config/env.js';
import { projectRoot } from '../src/config/package-info.js';

export const execFileAsync = promisify(execFile);
export const PM2 = join(projectRoot, 'node_modules', '.bin', 'pm2');
export const ECOSYSTEM = join(projectRoot, 'ecosystem.config.cjs');

export interface EcosystemApp {
  name: string;
  exec_mode: 'cluster' | 'fork';
  instances: number | string;
  listen_timeout?: number;
  env: Record<string, string>;
  [envName: `env_${string}`]: Record<string, string> | undefined;
}

export interface Pm2Process {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: {
    status: string;
    exec_mode: string;
    restart_time: number;
    NODE_APP_INSTANCE?: number | string;
    pm_out_log_path?: string;
    env?: Record<string, unknown>;
    /** What the app publishes through tx2 (pm2 monit). */
    axm_monitor?: Record<string, { value: unknown; unit?: string }>;
  };
}

/** The ecosystem file as the PM2 CLI reads it: with this process's environment (and .env). */
export function loadEcosystem(): EcosystemApp[] {
  try {
    return (createRequire(import.meta.url)(ECOSYSTEM) as { apps: EcosystemApp[] }).apps;
  } catch (error) {
    // The ecosystem file refuses a bad API_INSTANCES; its reason is the one line.
    throw new ConfigError(`Invalid configuration: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** What PM2 makes of `instances` in cluster mode: 'max' is the CPU count, -N the CPU count minus N (0, which PM2 reads as 'max', the ecosystem file refuses). */
export function resolveInstances(instances: number | string): number {
  const cpus = os.availableParallelism();
  const n = typeof instances === 'number' ? instances : Number(instances);
  if (instances === 'max' || n === 0 || Number.isNaN(n)) return cpus;
  return n < 0 ? Math.max(1, cpus + n) : n;
}

/**
 * Starts the PM2 daemon for this PM2_HOME if none runs (`pm2 ping` does, and says so on
 * stdout), so that what PM2 prints about spawning it never lands in another command's output.
 * The daemon gets `env`: its instances inherit what glibc reads from it (MALLOC_*).
 */
export async function startDaemon(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await execFileAsync(PM2, ['ping'], { cwd: projectRoot, env });
}

export async function jlist(env: NodeJS.ProcessEnv = process.env): Promise<Pm2Process[]> {
  const { stdout } = await execFileAsync(PM2, ['jlist'], { cwd: projectRoot, env, maxBuffer: 64 * 1024 * 1024 });
  // PM2 writes the list last, as one line of JSON without a newline; anything PM2 says before
  // it (e.g. "[PM2] Spawning PM2 daemon ..." when no daemon ran) is on lines of its own.
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as Pm2Process[];
  } catch {
    throw new Error(`pm2 jlist printed no process list:\n${stdout.slice(0, 2000)}`);
  }
}

export function instanceIdOf(proc: Pm2Process): string {
  return String(proc.pm2_env.NODE_APP_INSTANCE);
}

/**
 * Asks `url` until every instance id in `ids` (from the X-Instance-Id header) has given an
 * answer `read` accepts, or after `ids.size × 8` requests. New connections each time, so
 * PM2's round-robin reaches every instance.
 */
export async function askEach<T>(url: string, ids: ReadonlySet<string>, read: (res: Response) => Promise<T | undefined>, headers: Record<string, string> = {}): Promise<Map<string, T>> {
  const answers = new Map<string, T>();
  for (let i = 0; i < ids.size * 8 && answers.size < ids.size; i += 1) {
    try {
      const res = await fetch(url, { headers: { connection: 'close', ...headers }, signal: AbortSignal.timeout(5000) });
      const id = res.headers.get('x-instance-id');
      const value = await read(res);
      if (id !== null && ids.has(id) && value !== undefined) answers.set(id, value);
    } catch {
      // not listening (yet)
    }
  }
  return answers;
}
