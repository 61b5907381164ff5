import { exitAfterLogs, type Logger } from '../observability/logger.js';
import type { Shutdown } from './shutdown.js';

/**
 * Wires what the process manager and the runtime tell us to the one shutdown:
 * - SIGINT/SIGTERM (PM2 sends SIGINT; Docker and Kubernetes SIGTERM): graceful, exit 0;
 *   a second signal forces exit.
 * - the 'shutdown' IPC message (PM2's shutdown_with_message, our node:cluster primary): graceful.
 * - an uncaught exception or unhandled rejection: the process can no longer be trusted, so it
 *   shuts down gracefully and exits 1 for the process manager to restart it.
 */
export function handleProcessEvents(logger: Logger, shutdown: Shutdown): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ event: 'signal-repeated', signal }, `Received ${signal} again; forcing exit`);
      exitAfterLogs(logger, 1);
    }
    signalled = true;
    void shutdown(signal, 0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('message', (message) => {
    if (message === 'shutdown') void shutdown('shutdown message', 0);
  });
  process.on('uncaughtException', (error) => {
    logger.fatal({ event: 'uncaught-exception', err: error }, 'Uncaught exception; shutting down');
    void shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ event: 'unhandled-rejection', err: reason }, 'Unhandled promise rejection; shutting down');
    void shutdown('unhandledRejection', 1);
  });
}
