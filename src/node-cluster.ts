/**
 * Running without PM2: a node:cluster primary that forks API workers (src/main.ts) and the
 * background worker (src/worker-main.ts, one process), restarts any that die with a back-off,
 * and shuts them all down gracefully on SIGTERM/SIGINT. A worker that cannot listen (the port
 * is taken) stops everything with that error instead of restarting in a loop. PM2 is the
 * recommended manager (reload, monit, logs); this keeps the app runnable where PM2 is not
 * wanted. `npm run start:node-cluster`.
 */
import { fork as forkProcess, type ChildProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from './config/env.js';
import { FatalStartError } from './lifecycle/run-main.js';
import { createProcessLogger } from './observability/logger.js';

const CRASH_WINDOW_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;

const config = loadConfigOrExit();
const logger = createProcessLogger(config, { role: 'primary' });
const workerCount = config.nodeCluster.workers ?? Math.max(1, os.availableParallelism() - 1);

// Entries beside this file: .js when compiled, .ts under tsx (whose loader the children inherit).
const entry = (name: string) => fileURLToPath(new URL(`./${name}${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
cluster.setupPrimary({ exec: entry('main') });

let shuttingDown = false;
let exitCode = 0;
const recentCrashes: number[] = [];
const listening = new Set<number>();
let background: ChildProcess | undefined;

function fork(): Worker {
  const worker = cluster.fork();
  logger.info({ workerId: worker.id, workerPid: worker.process.pid }, `Worker ${worker.id} started (pid ${worker.process.pid})`);
  worker.on('listening', () => listening.add(worker.id));
  worker.on('message', (message) => {
    if (message === 'ready') logger.info({ workerId: worker.id }, `Worker ${worker.id} ready`);
  });
  return worker;
}

/** The one background worker (scheduled jobs), a plain child process: it never listens. */
function forkBackground(): void {
  const child = forkProcess(entry('worker-main'), { stdio: 'inherit' });
  background = child;
  logger.info({ workerPid: child.pid }, `Background worker started (pid ${child.pid})`);
  child.once('exit', (code, signal) => {
    background = undefined;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (shuttingDown) {
      logger.info({ code, signal }, `Background worker exited (${how})`);
      exitWhenAllStopped();
      return;
    }
    const delay = restartDelay();
    logger.warn({ code, signal, restartInMs: delay }, `Background worker died (${how}); restarting in ${delay}ms`);
    setTimeout(() => {
      if (!shuttingDown) forkBackground();
    }, delay);
  });
}

/** 0 for an isolated crash; doubling from 1 s while crashes keep coming, so a crash loop cannot spin. */
function restartDelay(): number {
  const now = Date.now();
  recentCrashes.push(now);
  while (recentCrashes.length > 0 && (recentCrashes[0] ?? now) < now - CRASH_WINDOW_MS) recentCrashes.shift();
  const crashes = recentCrashes.length;
  return crashes <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (crashes - 2));
}

function exitWhenAllStopped(): void {
  if (Object.keys(cluster.workers ?? {}).length === 0 && !background) {
    logger.info('All workers stopped; primary exiting');
    process.exit(exitCode);
  }
}

cluster.on('exit', (worker, code, signal) => {
  listening.delete(worker.id);
  const how = signal ? `signal ${signal}` : `code ${code}`;
  if (shuttingDown) {
    logger.info({ workerId: worker.id, code, signal }, `Worker ${worker.id} exited (${how})`);
    exitWhenAllStopped();
    return;
  }
  if (code === FatalStartError.exitCode) {
    logger.fatal(
      { workerId: worker.id, code },
      `Worker ${worker.id} cannot listen on ${config.http.host}:${config.http.port} (is the port in use? see docs/troubleshooting.md#port-already-in-use); stopping instead of restarting`,
    );
    exitCode = 1;
    shutdown('SIGTERM');
    return;
  }
  const delay = restartDelay();
  logger.warn({ workerId: worker.id, code, signal, restartInMs: delay }, `Worker ${worker.id} died (${how}); restarting in ${delay}ms`);
  setTimeout(() => {
    if (!shuttingDown) fork();
  }, delay);
});

function shutdown(signal: NodeJS.Signals): void {
  const children = [...Object.values(cluster.workers ?? {}).map((w) => w?.process), background];
  if (shuttingDown) {
    logger.warn(`Received ${signal} again; killing workers`);
    for (const child of children) child?.kill('SIGKILL');
    process.exit(1);
  }
  shuttingDown = true;
  logger.info(`Received ${signal}; asking ${children.filter(Boolean).length} workers to shut down`);
  for (const worker of Object.values(cluster.workers ?? {})) {
    if (!worker) continue;
    // A listening worker gets the same graceful path PM2's SIGINT takes
    // (lifecycle/process-events.ts), as a message: on Ctrl+C it already got SIGINT from the
    // terminal, and a second signal would force it out. One still starting has no message
    // listener yet and serves nothing, so it gets SIGTERM.
    if (listening.has(worker.id)) worker.send('shutdown');
    else worker.process.kill('SIGTERM');
  }
  if (background?.connected) background.send('shutdown');
  else background?.kill('SIGTERM');
  exitWhenAllStopped();
  setTimeout(() => {
    logger.error('Workers did not stop in time; killing them');
    for (const child of [...Object.values(cluster.workers ?? {}).map((w) => w?.process), background]) child?.kill('SIGKILL');
    process.exit(1);
  }, config.shutdown.timeoutMs + 2000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

logger.info({ workers: workerCount }, `Primary ${process.pid} forking ${workerCount} workers and the background worker`);
for (let i = 0; i < workerCount; i += 1) fork();
forkBackground();
