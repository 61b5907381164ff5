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

const common = {
  cwd: __dirname,
  // The app's own deadline plus a margin: PM2 only SIGKILLs an instance that hangs past it.
  kill_timeout: shutdownTimeoutMs + 3000,
  merge_logs: true,
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
    // what it freed; two are plenty for one event loop and its helper threads (docs/benchmarks.md).
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || '2',
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
      // A young generation of 2 × 2 MB instead of V8's default of up to 2 × 16 MB: an instance's
      // per-request garbage dies young either way, and the larger one was ≈ 40 MB of RSS per
      // instance after load for no CPU we could measure (docs/benchmarks.md).
      node_args: [`--max-old-space-size=${env.MAX_OLD_SPACE_MB || 384}`, '--max-semi-space-size=2'],
    },
    {
      ...common,
      name: env.WORKER_NAME || 'worker',
      script: 'dist/src/worker-main.js',
      exec_mode: 'fork',
      instances: 1,
      wait_ready: true,
      listen_timeout: 10000,
      max_memory_restart: env.WORKER_MAX_MEMORY_RESTART || '384M',
      // The worker runs a job every few seconds: V8's memory-over-speed mode and one GC helper
      // thread cost it nothing that matters and take ≈ 20 MB off its RSS (docs/benchmarks.md).
      node_args: [`--max-old-space-size=${env.WORKER_MAX_OLD_SPACE_MB || 256}`, '--optimize-for-size', '--v8-pool-size=1'],
    },
  ],
};
