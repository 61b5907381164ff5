import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/config/package-info.js';
import { inNamespace, tryRun } from './shell.js';
import type { Topology } from './topology.js';

/** What a host's copy of the release holds: what the image copies, plus the sources npm start checks. */
const RELEASE_FILES = ['dist', 'src', 'prisma', 'scripts', 'public', 'package.json', 'package-lock.json', 'ecosystem.config.cjs', 'check-cluster.sh', 'tsconfig.json', 'tsconfig.build.json', 'prisma.config.ts'];

export type Host = Topology['hosts'][number];

export function hostDir(t: Topology, host: Host): string {
  return join(t.dir, host.id);
}

/**
 * Puts a release on a host: a copy of the built project (modification times kept, so
 * `npm start` sees nothing to rebuild) with the project's node_modules linked in, as a deploy
 * tool would unpack an artifact. `from` is the project folder to copy (another build for a
 * rolled release).
 */
export function installRelease(t: Topology, host: Host, from = projectRoot): string {
  const app = join(hostDir(t, host), 'app');
  // Over the running release, in place, as an rsync-style deploy does: the running instances
  // keep what they loaded, `npm start` then reloads them onto the new files.
  mkdirSync(app, { recursive: true });
  for (const file of RELEASE_FILES) if (existsSync(join(from, file))) cpSync(join(from, file), join(app, file), { recursive: true, force: true, preserveTimestamps: true });
  if (!existsSync(join(app, 'node_modules'))) symlinkSync(join(projectRoot, 'node_modules'), join(app, 'node_modules'));
  // The copy's folders are newer than its build stamp; the build they hold is this one.
  const now = new Date();
  utimesSync(join(app, 'dist/.build-stamp'), now, now);
  return app;
}

/**
 * A changed build to roll out: a copy of the project whose package.json names `version`, which
 * every instance reports (/api/status, cluster membership).
 */
export function prepareRelease(t: Topology, version: string): string {
  const dir = join(t.dir, `release-${version}`);
  mkdirSync(dir, { recursive: true });
  for (const file of RELEASE_FILES) if (existsSync(join(projectRoot, file))) cpSync(join(projectRoot, file), join(dir, file), { recursive: true, preserveTimestamps: true });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
  return dir;
}

/** The environment a host's `npm start` runs with: production, behind one proxy, its own HOST_ID and PM2 daemon. */
export function hostEnv(t: Topology, host: Host, settings: { jwtSecret: string; budget: number; extra?: Record<string, string> }): NodeJS.ProcessEnv {
  const home = join(hostDir(t, host), 'home');
  mkdirSync(home, { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: home,
    PM2_HOME: join(hostDir(t, host), 'pm2'),
    NODE_ENV: 'production',
    HOST: '0.0.0.0',
    PORT: String(t.appPort),
    HOST_ID: host.id,
    API_INSTANCES: '2',
    TRUST_PROXY: 'true',
    JWT_SECRET: settings.jwtSecret,
    DATABASE_URL: `postgresql://postgres@${t.gateway}:${t.pgbouncerPort}/${t.database}`,
    MIGRATION_DATABASE_URL: `postgresql://postgres@${t.gateway}:${t.pgbouncerPort}/${t.database}_session`,
    DB_CONNECTION_BUDGET: String(settings.budget),
    REDIS_URL: `redis://${t.redis.address}:${t.redis.primaryPort}`,
    REDIS_SENTINELS: t.redis.sentinelPorts.map((port) => `${t.redis.address}:${port}`).join(','),
    REDIS_SENTINEL_NAME: t.redis.masterName,
    REDIS_KEY_PREFIX: `${t.name}:`,
    ...settings.extra,
  };
}

/** `npm start` on the host, from its release folder, inside its namespace: what an operator runs there. */
export async function npmStart(t: Topology, host: Host, env: NodeJS.ProcessEnv): Promise<string> {
  return inNamespace(host.ns, 'npm', ['start'], { env, cwd: join(hostDir(t, host), 'app'), timeoutMs: 180_000 });
}

/** PM2 on the host, with its own daemon: `pm2 jlist`, `pm2 resurrect`, `pm2 kill`... */
export async function pm2(t: Topology, host: Host, env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  return inNamespace(host.ns, join(projectRoot, 'node_modules/.bin/pm2'), args, { env, cwd: join(hostDir(t, host), 'app'), timeoutMs: 60_000 });
}

export async function stopHost(t: Topology, host: Host): Promise<void> {
  await tryRun('ip', ['netns', 'exec', host.ns, join(projectRoot, 'node_modules/.bin/pm2'), 'kill'], { env: { PATH: process.env.PATH, HOME: join(hostDir(t, host), 'home'), PM2_HOME: join(hostDir(t, host), 'pm2') }, timeoutMs: 30_000 });
}
