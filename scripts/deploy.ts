/**
 * What `npm start`, `npm run start:prod` and `npm run restart:cluster` run (through
 * scripts/start.sh, which builds first when the sources changed):
 *
 * 1. Validate, before touching anything, the configuration every new instance will get: what
 *    ecosystem.config.cjs passes them (.env plus the caller's environment), with `--env NAME`'s
 *    overrides, so production rules apply when production is asked for. A bad value stops here
 *    with the one-line error and exit 1, and the running instances keep serving; so does a
 *    DB_CONNECTION_BUDGET too small for the API instances and the worker to share.
 * 2. Apply pending migrations (not on `--reload`).
 * 3. Start the apps, or reload them with zero downtime; then scale the API to the count the
 *    ecosystem file resolves (API_INSTANCES), down before the reload, up after it.
 * 4. Wait until every API instance answers /ready. If one does not within its listen timeout,
 *    say so, put the previous configuration back (a reload with it), and exit 1.
 * 5. `pm2 save`, so `pm2 resurrect` and `pm2 startup`'s boot service bring back what started.
 *
 * Usage: node dist/scripts/deploy.js [--reload] [--env NAME] [--only APP] [other pm2 options]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createTokenService } from '../src/auth/jwt.js';
import { CONFIG_VARIABLES, ConfigError, parseConfig, type Config } from '../src/config/env.js';
import { projectRoot } from '../src/config/package-info.js';
import { minimumBudget } from '../src/cluster/pool-share.js';
import { askEach, ECOSYSTEM, execFileAsync, instanceIdOf, jlist, loadEcosystem, PM2, resolveInstances, startDaemon, type EcosystemApp, type Pm2Process } from './pm2.js';

class DeployError extends Error {}

function parseArgs(argv: string[]) {
  const options = { reload: false, envName: undefined as string | undefined, only: undefined as string | undefined, pm2Args: [] as string[] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const value = () => {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) throw new DeployError(`${arg} needs a value`);
      i += 1;
      return next;
    };
    if (arg === '--reload') options.reload = true;
    else if (arg === '--env') options.envName = value();
    else if (arg.startsWith('--env=')) options.envName = arg.slice('--env='.length);
    else if (arg === '--only') options.only = value();
    else options.pm2Args.push(arg);
  }
  return options;
}

/** The environment PM2 gives an app's instances for the app's own variables (`--env NAME` merged last, as PM2 does). */
function instanceEnv(app: EcosystemApp, envName: string | undefined): Record<string, string> {
  return { ...app.env, ...(envName ? app[`env_${envName}`] : undefined) };
}

/** Runs a PM2 command; its output is shown only if it fails (the final `pm2 list` shows the result once). */
async function pm2(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  try {
    await execFileAsync(PM2, args, { cwd: projectRoot, env, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    process.stderr.write(`${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    throw new DeployError(`pm2 ${args.join(' ')} failed`);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Resolves once `count` instances of the app are online, each answers /ready with 200, and
 * each sees the same `count` API instances of this host in its cluster membership (so every
 * pool is sized for the new count); otherwise says what is missing when `timeoutMs` runs out.
 */
interface Serving {
  problem?: string;
  /** As one instance reports it once all agree. */
  info?: { poolMax: number; budget: number; instances: number };
}

async function waitUntilServing(app: string, count: number, config: Config, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Serving> {
  const host = ['0.0.0.0', '::'].includes(config.http.host) ? '127.0.0.1' : config.http.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
  const deadline = Date.now() + timeoutMs;
  let problem = 'no answer yet';
  while (Date.now() < deadline) {
    const procs = (await jlist(env)).filter((p) => p.name === app);
    const online = procs.filter((p) => p.pm2_env.status === 'online');
    const ids = new Set(procs.map(instanceIdOf));
    if (procs.length !== count || online.length !== count) {
      problem = `${online.length}/${count} instances online (${procs.map((p) => `#${instanceIdOf(p)} ${p.pm2_env.status}`).join(', ')})`;
    } else {
      const ready = await askEach(`${base}/ready`, ids, (res) => Promise.resolve(res.status === 200 ? true : undefined));
      // In production the pool and members are shown only to a caller with a token.
      const token = await createTokenService(config.auth.jwtSecret).sign('deploy', '5m');
      const seen = await askEach(`${base}/api/cluster-info`, ids, async (res) => {
        const info = (await res.json()) as { instances: number; db: { poolMax: number; budget: number }; members?: { host: string; role: string }[] };
        const here = info.members?.filter((m) => m.host === config.cluster.hostId && m.role === 'api').length;
        return { here, instances: info.instances, poolMax: info.db.poolMax, budget: info.db.budget };
      }, { authorization: `Bearer ${token}` });
      const notReady = [...ids].filter((id) => !ready.has(id));
      const disagree = [...ids].filter((id) => seen.get(id)?.here !== count);
      if (notReady.length === 0 && disagree.length === 0) return { info: [...seen.values()][0] };
      problem = notReady.length > 0
        ? `instance(s) #${notReady.join(', #')} not answering ${base}/ready with 200`
        : `instance(s) #${disagree.join(', #')} not yet seeing ${count} API instances in the cluster membership`;
    }
    await sleep(500);
  }
  return { problem };
}

/** The app's own variables as a running instance has them, to put back if a reload fails. */
function configOf(proc: Pm2Process): Record<string, string> {
  const env = proc.pm2_env.env ?? {};
  return Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, typeof env[name] === 'string' ? env[name] : '']));
}

/**
 * A budget the processes of this host cannot share (each API instance needs a connection, the
 * workers their pools) would start instances that never become ready: refused here, before
 * anything starts, with the minimum.
 */
function refuseBudgetBelowMinimum(apps: EcosystemApp[], envName: string | undefined): void {
  const api = apps.find((app) => app.exec_mode === 'cluster');
  if (!api) return;
  const { db } = parseConfig(instanceEnv(api, envName));
  const instances = resolveInstances(api.instances);
  const minimum = minimumBudget({ workerPool: db.workerPoolMax }, instances);
  if (db.connectionBudget < minimum) {
    throw new ConfigError(
      `Invalid configuration: DB_CONNECTION_BUDGET must be at least ${minimum} for ${instances} API instance(s) and the worker's pool of ${db.workerPoolMax} on this host; got ${db.connectionBudget}`,
    );
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const allApps = loadEcosystem();
  const apps = allApps.filter((app) => options.only === undefined || app.name === options.only);
  if (apps.length === 0) throw new DeployError(`No app named ${options.only ?? ''} in ecosystem.config.cjs`);
  // Every app's instances get their configuration validated, with production rules if asked for.
  const configs = new Map(apps.map((app) => [app.name, parseConfig(instanceEnv(app, options.envName))]));
  refuseBudgetBelowMinimum(allApps, options.envName);

  if (!options.reload) {
    const migrate = spawn(process.execPath, [join(projectRoot, 'dist', 'scripts', 'migrate.js')], { cwd: projectRoot, stdio: 'inherit', env: { ...process.env, ...instanceEnv(apps[0] as EcosystemApp, options.envName) } });
    const code = await new Promise<number | null>((resolve) => migrate.once('exit', resolve));
    if (code !== 0) process.exit(code ?? 1);
  }

  const api = apps.find((app) => app.exec_mode === 'cluster');
  const wanted = api ? resolveInstances(api.instances) : 0;
  // glibc reads MALLOC_* once, as a process starts. PM2 cluster mode hands each instance the
  // app's env as one JSON variable that is copied into process.env after the start, so what
  // glibc sees is the PM2 daemon's own environment: the daemon started by the first pm2 call
  // below gets the API's MALLOC_* (ecosystem.config.cjs). One started without them gives its
  // instances glibc's defaults until `pm2 kill` (docs/operations.md).
  for (const [name, value] of Object.entries(api?.env ?? {})) if (name.startsWith('MALLOC_')) process.env[name] = value;
  // Explicitly, first: on a machine where PM2 never ran, this is where its daemon starts.
  await startDaemon(process.env);
  const before = await jlist(process.env);
  const running = api ? before.filter((p) => p.name === api.name) : [];
  const envArgs = options.envName ? ['--env', options.envName] : [];
  const onlyArgs = options.only ? ['--only', options.only] : [];

  const names = apps.map((app) => app.name).join(' and ');
  if (running.length > 0 && api) console.log(`Reloading ${names} with zero downtime${running.length === wanted ? '' : `; scaling ${api.name} from ${running.length} to ${wanted} instances`}`);
  else console.log(`Starting ${names}`);
  if (api && running.length > wanted) await pm2(['scale', api.name, String(wanted)], process.env);
  await pm2([options.reload ? 'reload' : 'startOrReload', ECOSYSTEM, '--update-env', ...envArgs, ...onlyArgs, ...options.pm2Args], process.env);
  if (api && running.length > 0 && running.length < wanted) await pm2(['scale', api.name, String(wanted)], process.env);

  if (api) {
    const config = configs.get(api.name) as Config;
    const timeoutMs = (api.listen_timeout ?? 15_000) + 5000;
    const { problem, info } = await waitUntilServing(api.name, wanted, config, process.env, timeoutMs);
    if (info) {
      console.log(
        `${wanted} ${api.name} instance(s) ready, each with a pool of ${info.poolMax} of the DB_CONNECTION_BUDGET of ${info.budget} (workers' pools off the top, the rest split by the ${info.instances} live API instance(s) on this database)`,
      );
    }
    if (problem !== undefined) {
      console.error(`The new instances did not become ready within ${timeoutMs} ms: ${problem}.`);
      const previous = running[0];
      if (previous) {
        console.error(`Putting the previous configuration back (${running.length} instance(s))...`);
        const restore = { ...process.env, ...configOf(previous), API_INSTANCES: String(running.length) };
        await pm2(['reload', ECOSYSTEM, '--update-env', ...onlyArgs], restore);
        // A reload keeps the count: undo a scale that came with the failed configuration.
        if ((await jlist(restore)).filter((p) => p.name === api.name).length !== running.length) await pm2(['scale', api.name, String(running.length)], restore);
        const still = (await waitUntilServing(api.name, running.length, parseConfig(configOf(previous)), restore, timeoutMs)).problem;
        console.error(still === undefined ? 'The cluster serves with its previous configuration; see npm run logs for why the new one failed.' : `The previous configuration does not serve either: ${still}.`);
      }
      process.exit(1);
    }
  }
  // What `pm2 resurrect` (and the boot script of `pm2 startup`) brings back after the daemon
  // dies: exactly what this start left running.
  await pm2(['save'], process.env);
  const list = spawn(PM2, ['list'], { cwd: projectRoot, env: process.env, stdio: 'inherit' });
  await new Promise((resolve) => list.once('exit', resolve));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof DeployError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
});
