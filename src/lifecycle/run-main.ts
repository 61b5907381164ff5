import type { Logger } from '../observability/logger.js';

/**
 * Runs an entry point's start-up. Under PM2 an ES module's top-level failure becomes a
 * rejection that PM2 only prints, leaving an "online" process that serves nothing; here any
 * start-up failure is logged as fatal and exits 1, so the process manager restarts it.
 */
export function runMain(logger: Logger, start: () => Promise<void> | void): void {
  Promise.resolve()
    .then(start)
    .catch((error: unknown) => {
    logger.fatal({ err: error }, 'Start-up failed');
    process.exit(1);
  });
}
