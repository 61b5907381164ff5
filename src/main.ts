/**
 * The entry PM2 runs in every API instance (and node:cluster in every worker): reads config,
 * starts tracing if asked, starts the API, wires signals to its stop, and tells PM2 when it
 * can serve.
 */
import type { RunningApi } from './api.js';
import { detectIdentity } from './cluster/identity.js';
import { loadConfigOrExit } from './config/env.js';
import { handleProcessEvents } from './lifecycle/process-events.js';
import { signalReadyWhenServing } from './lifecycle/ready-signal.js';
import { runMain } from './lifecycle/run-main.js';
import { createShutdown } from './lifecycle/shutdown.js';
import { createProcessLogger } from './observability/logger.js';
import { startTracing } from './observability/tracing.js';

const config = loadConfigOrExit();
const identity = detectIdentity();
// Before the app is imported (below): the Redis instrumentation patches ioredis as it loads.
const tracing = await startTracing(config, { role: 'api', instanceId: identity.instanceId, host: config.cluster.hostId });
const logger = createProcessLogger(config, { role: 'api', instanceId: identity.instanceId }, undefined, { ownLogFile: identity.ownLogFile, mixin: tracing?.logFields });

runMain(logger, async () => {
  const running: { api?: RunningApi } = {};
  // Wired before start, so a signal during start-up is a clean exit too.
  handleProcessEvents(logger, createShutdown({ logger, timeoutMs: config.shutdown.timeoutMs, stop: () => running.api?.stop() ?? Promise.resolve(true) }));
  const { startApi } = await import('./api.js');
  running.api = await startApi(config, { logger, identity, tracing });
  await signalReadyWhenServing(running.api.readiness, logger);
});
