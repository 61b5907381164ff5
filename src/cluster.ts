/**
 * Running without PM2: a node:cluster primary that forks API workers (src/main.ts), restarts
 * any that die with a back-off, and shuts them down gracefully on SIGTERM/SIGINT.
 * PM2 is the recommended manager (reload, monit, logs); this keeps the app runnable where
 * PM2 is not wanted. `npm run start:node-cluster`.
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from './config/env.js';
import { createProcessLogger } from './observability/logger.js';

const CRASH_WINDOW_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;

const config = loadConfigOrExit();
const logger = createProcessLogger(config, { role: 'primary' });
const workerCount = config.nodeCluster.workers ?? Math.max(1, os.availableParallelism() - 1);

// main.ts beside this file: .js when compiled, .ts under tsx (whose loader the workers inherit).
cluster.setupPrimary({ exec: fileURLToPath(new URL(`./main${extname(fileURLToPath(import.meta.url))}`, import.meta.url)) });

let shuttingDown = false;
const recentCrashes: number[] = [];
const listening = new Set<number>();

function fork(): Worker {
  const worker = cluster.fork({ CLUSTER_WORKERS: String(workerCount) });
  logger.info({ workerId: worker.id, workerPid: worker.process.pid }, `Worker ${worker.id} started (pid ${worker.process.pid})`);
  worker.on('listening', () => listening.add(worker.id));
  worker.on('message', (message) => {
    if (message === 'ready') logger.info({ workerId: worker.id }, `Worker ${worker.id} ready`);
  });
  return worker;
}

/** 0 for an isolated crash; doubling from 1 s while crashes keep coming, so a crash loop cannot spin. */
function restartDelay(): number {
  const now = Date.now();
  recentCrashes.push(now);
  while (recentCrashes.length > 0 && (recentCrashes[0] ?? now) < now - CRASH_WINDOW_MS) recentCrashes.shift();
  const crashes = recentCrashes.length;
  return crashes <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (crashes - 2));
}

cluster.on('exit', (worker, code, signal) => {
  listening.delete(worker.id);
  const how = signal ? `signal ${signal}` : `code ${code}`;
  if (shuttingDown) {
    logger.info({ workerId: worker.id, code, signal }, `Worker ${worker.id} exited (${how})`);
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      logger.info('All workers stopped; primary exiting');
      process.exit(0);
    }
    return;
  }
  const delay = restartDelay();
  logger.warn({ workerId: worker.id, code, signal, restartInMs: delay }, `Worker ${worker.id} died (${how}); restarting in ${delay}ms`);
  setTimeout(() => {
    if (!shuttingDown) fork();
  }, delay);
});

function shutdown(signal: NodeJS.Signals): void {
  if (shuttingDown) {
    logger.warn(`Received ${signal} again; killing workers`);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(1);
  }
  shuttingDown = true;
  logger.info(`Received ${signal}; asking ${Object.keys(cluster.workers ?? {}).length} workers to shut down`);
  for (const worker of Object.values(cluster.workers ?? {})) {
    if (!worker) continue;
    // A listening worker gets the same graceful path PM2's SIGINT takes
    // (lifecycle/process-events.ts), as a message: on Ctrl+C it already got SIGINT from the
    // terminal, and a second signal would force it out. One still starting has no message
    // listener yet and serves nothing, so it gets SIGTERM.
    if (listening.has(worker.id)) worker.send('shutdown');
    else worker.process.kill('SIGTERM');
  }
  if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  setTimeout(() => {
    logger.error('Workers did not stop in time; killing them');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(1);
  }, config.shutdown.timeoutMs + 2000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

logger.info({ workers: workerCount }, `Primary ${process.pid} forking ${workerCount} workers`);
for (let i = 0; i < workerCount; i += 1) fork();
