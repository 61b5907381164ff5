import { exitAfterLogs, type Logger } from '../observability/logger.js';

/**
 * A start-up failure that a restart cannot fix (the port is taken by another program): the
 * process exits with EX_CONFIG (78, sysexits.h) so a supervisor can stop instead of looping.
 */
export class FatalStartError extends Error {
  override name = 'FatalStartError';
  static readonly exitCode = 78;
}

/**
 * Runs an entry point's start-up. Under PM2 an ES module's top-level failure becomes a
 * rejection that PM2 only prints, leaving an "online" process that serves nothing; here any
 * start-up failure is logged as fatal and exits 1 (78 for a FatalStartError), so the process
 * manager restarts it.
 */
export function runMain(logger: Logger, start: () => Promise<void> | void): void {
  Promise.resolve()
    .then(start)
    .catch((error: unknown) => {
      logger.fatal({ event: 'start-failed', err: error }, 'Start-up failed');
      exitAfterLogs(logger, error instanceof FatalStartError ? FatalStartError.exitCode : 1);
    });
}
