/**
 * The entry of the single background process (PM2 fork mode, one instance): reads config,
 * starts tracing if asked, starts the worker, wires signals to its stop, and tells PM2 it is
 * ready.
 */
import { detectIdentity } from './cluster/identity.js';
import { loadConfigOrExit } from './config/env.js';
import { handleProcessEvents } from './lifecycle/process-events.js';
import { runMain } from './lifecycle/run-main.js';
import { createShutdown } from './lifecycle/shutdown.js';
import { createProcessLogger } from './observability/logger.js';
import { startTracing } from './observability/tracing.js';
import type { RunningWorker } from './worker.js';

const config = loadConfigOrExit();
const { instanceId } = detectIdentity();
// Before the worker is imported (below): the Redis instrumentation patches ioredis as it loads.
const tracing = await startTracing(config, { role: 'worker', instanceId, host: config.cluster.hostId });
const logger = createProcessLogger(config, { role: 'worker', instanceId }, undefined, { mixin: tracing?.logFields });

runMain(logger, async () => {
  const running: { worker?: RunningWorker } = {};
  // Wired before start, so a signal during start-up is a clean exit too.
  handleProcessEvents(logger, createShutdown({ logger, timeoutMs: config.shutdown.timeoutMs, stop: () => running.worker?.stop() ?? Promise.resolve(true) }));
  const { startWorker } = await import('./worker.js');
  running.worker = await startWorker(config, { logger, tracing });
  process.send?.('ready');
});
