/**
 * PM2 apps: the API on every core in cluster mode, and one background worker in fork mode.
 * `npm start` (scripts/start.sh) builds, migrates, then runs `pm2 startOrReload` on this file.
 *
 * Read by the PM2 CLI, so it sees the caller's environment: API_INSTANCES=2 npm start.
 */
require('dotenv').config({ path: `${__dirname}/.env`, quiet: true });

const env = process.env;
const shutdownTimeoutMs = Number(env.SHUTDOWN_TIMEOUT_MS || 10000);
const instances = env.API_INSTANCES || 'max';
if (instances !== 'max' && !/^-?\d+$/.test(instances)) {
  throw new Error(`API_INSTANCES must be 'max', a number, or a negative number (CPUs minus N); got "${instances}"`);
}

const common = {
  cwd: __dirname,
  // The app's own deadline plus a margin: PM2 only SIGKILLs an instance that hangs past it.
  kill_timeout: shutdownTimeoutMs + 3000,
  max_memory_restart: env.MAX_MEMORY_RESTART || '512M',
  merge_logs: true,
  log_date_format: 'YYYY-MM-DD HH:mm:ss Z',
  // Exponential back-off between crash restarts, so a crash loop does not spin.
  exp_backoff_restart_delay: 100,
  env: { NODE_ENV: env.NODE_ENV || 'development' },
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
      node_args: [`--max-old-space-size=${env.MAX_OLD_SPACE_MB || 384}`],
    },
    {
      ...common,
      name: env.WORKER_NAME || 'worker',
      script: 'dist/src/worker/main.js',
      exec_mode: 'fork',
      instances: 1,
      wait_ready: true,
      listen_timeout: 10000,
      node_args: [`--max-old-space-size=${env.WORKER_MAX_OLD_SPACE_MB || 256}`],
    },
  ],
};
