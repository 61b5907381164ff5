/**
 * The entry of the single background process (PM2 fork mode, one instance): reads config,
 * starts the worker, wires signals to its stop, and tells PM2 it is ready.
 */
import { detectIdentity } from './cluster/identity.js';
import { loadConfigOrExit } from './config/env.js';
import { handleProcessEvents } from './lifecycle/process-events.js';
import { runMain } from './lifecycle/run-main.js';
import { createShutdown } from './lifecycle/shutdown.js';
import { createProcessLogger } from './observability/logger.js';
import { startWorker, type RunningWorker } from './worker.js';

const config = loadConfigOrExit();
const logger = createProcessLogger(config, { role: 'worker', instanceId: detectIdentity().instanceId });

runMain(logger, async () => {
  const running: { worker?: RunningWorker } = {};
  // Wired before start, so a signal during start-up is a clean exit too.
  handleProcessEvents(logger, createShutdown({ logger, timeoutMs: config.shutdown.timeoutMs, stop: () => running.worker?.stop() ?? Promise.resolve(true) }));
  running.worker = await startWorker(config, { logger });
  process.send?.('ready');
});
