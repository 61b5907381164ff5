/**
 * PM2 apps: the API on every core in cluster mode, and one background worker in fork mode.
 * `npm start` (scripts/deploy.ts) validates what this file gives the instances, migrates, then
 * runs `pm2 startOrReload` on it and scales the API to the count here.
 *
 * Read by the PM2 CLI, so it sees the caller's environment: API_INSTANCES=2 npm start.
 */
require('dotenv').config({ path: `${__dirname}/.env`, quiet: true });

const env = process.env;
/** @type {readonly string[]} */
let configVariables;
try {
  // dist/ may not exist when the linter reads this file, so the module's type is unknown to it.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment
  configVariables = require('./dist/src/config/env.js').CONFIG_VARIABLES;
} catch (error) {
  throw new Error(`ecosystem.config.cjs reads the app's variable names from dist/: run npm run build first (${error.message})`);
}
// Every variable of the app, each given explicitly ('' = unset): PM2 merges a reload's
// environment into the one it kept, so a variable set earlier and unset now would otherwise
// stay, as would anything from the environment the PM2 daemon was started in.
const appEnv = Object.fromEntries(configVariables.map((name) => [name, env[name] ?? '']));
const shutdownTimeoutMs = Number(env.SHUTDOWN_TIMEOUT_MS || 16000);
const instances = env.API_INSTANCES || 'max';
if (instances !== 'max' && !/^-?\d+$/.test(instances)) {
  throw new Error(`API_INSTANCES must be 'max', a number, or a negative number (CPUs minus N); got "${instances}"`);
}
// PM2 would read 0 as 'max': refused, since whoever writes 0 means something else (no API).
if (Number(instances) === 0) {
  throw new Error(`API_INSTANCES must be 'max' (one per CPU), a number from 1, or a negative number (CPUs minus N); got "${instances}" (PM2 would read 0 as max)`);
}

const common = {
  cwd: __dirname,
  // The app's own deadline plus a margin: PM2 only SIGKILLs an instance that hangs past it.
  kill_timeout: shutdownTimeoutMs + 3000,
  // One log file per process (api-out-<pm_id>.log): `pm2 logs` labels the lines of a file with
  // the process that owns it, so a merged file showed `0|api` on every instance's lines. One
  // writer per file is also what lets each process rotate its own (src/observability/log-rotation.ts).
  merge_logs: false,
  // No log_date_format: it would prefix each of pino's JSON lines (which carry their own `time`)
  // with a date, in PM2's log files and in pm2-runtime's stdout alike, and no line would parse.
  // LOG_TO_FILES=false (the image sets it): the apps' lines reach stdout through pm2-runtime
  // only; PM2's log files would keep a second copy, growing without bound in the container.
  ...(env.LOG_TO_FILES === 'false' ? { out_file: '/dev/null', error_file: '/dev/null' } : {}),
  // Exponential back-off between crash restarts, so a crash loop does not spin.
  exp_backoff_restart_delay: 100,
  env: {
    ...appEnv,
    NODE_ENV: env.NODE_ENV || 'development',
    // glibc gives each thread that allocates an arena of its own (up to 8 per core), each keeping
    // what it freed. The event loop does the work and V8's and libuv's helper threads malloc
    // little: one arena costs no CPU we could measure and ≈ 6 MB less RSS after load than two
    // (docs/benchmarks.md).
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || '1',
    // glibc hands memory back to the system once more than this is free at the top of its heap.
    // It starts at 128 kB but rises with every large block freed (up to 64 MB), so a long-lived
    // process keeps ever more; fixed here, ≈ 5 MB less RSS idle and after load (docs/benchmarks.md).
    MALLOC_TRIM_THRESHOLD_: env.MALLOC_TRIM_THRESHOLD_ || '131072',
  },
  env_production: { NODE_ENV: 'production' },
};

module.exports = {
  apps: [
    {
      ...common,
      name: env.API_NAME || 'api',
      script: 'dist/src/main.js',
      exec_mode: 'cluster',
      instances: /^-?\d+$/.test(instances) ? Number(instances) : instances,
      // Each instance sends process.send('ready') once it listens and its dependencies answer.
      wait_ready: true,
      listen_timeout: Number(env.LISTEN_TIMEOUT_MS || 15000),
      // PM2 restarts an instance whose RSS passes this (gracefully, like a reload); the V8 heap
      // limit below keeps the heap under it. A container's memory limit must exceed the sum of
      // every app's threshold plus PM2 itself (docs/deployment.md), or the OOM killer acts first.
      max_memory_restart: env.MAX_MEMORY_RESTART || '512M',
      // Semi-spaces of up to 16 MB: with 32 requests in flight, 2 MB ones were scavenged 7 times
      // as often and still held 40 % live objects each time, ≈ 0.4× bare Express's CPU per
      // request more under PM2 (Node 20). Node 24's V8 sizes them from the heap limit instead
      // (up to 32 MB each with this one); re-measured on 24, 16 MB, 32 MB and V8's default cost
      // the same CPU per request within noise, so 16 stays as the bound on the young
      // generation (32 MB rather than 64 MB), not for speed (docs/benchmarks.md).
      node_args: [`--max-old-space-size=${env.MAX_OLD_SPACE_MB || 384}`, '--max-semi-space-size=16'],
    },
    {
      ...common,
      name: env.WORKER_NAME || 'worker',
      script: 'dist/src/worker-main.js',
      exec_mode: 'fork',
      // The node running this PM2 command, as for the daemon it starts (whose node the cluster
      // instances run): PM2 would otherwise look `node` up on PATH, which may find another one.
      interpreter: process.execPath,
      instances: 1,
      wait_ready: true,
      listen_timeout: 10000,
      max_memory_restart: env.WORKER_MAX_MEMORY_RESTART || '384M',
      // The worker runs a job every few seconds and waits on PostgreSQL: V8's memory-over-speed
      // mode, one GC helper thread and no optimising compiler (--max-opt=1 stops at the baseline
      // compiler) cost it nothing that matters and take ≈ 20 MB off its RSS (docs/benchmarks.md).
      // (On Node 24, run directly: 71.0/72.1 MB idle with these flags, 89.8/94.2 MB without,
      // 78.3/80.0 MB without --max-opt=1.) MALLOC_MMAP_THRESHOLD_=32768, which saved ≈ 4 MB on
      // Node 20, saves nothing measurable on 24 (70.5/73.9 MB without it) and is gone.
      node_args: [`--max-old-space-size=${env.WORKER_MAX_OLD_SPACE_MB || 256}`, '--optimize-for-size', '--v8-pool-size=1', '--max-opt=1'],
    },
  ],
};
