import type { Logger } from '../observability/logger.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<void> | void;
}

export type Shutdown = (reason: string, exitCode?: number) => Promise<void>;

/**
 * One idempotent shutdown: runs the steps in order, each even if an earlier one failed, then
 * exits. If the steps have not finished within `timeoutMs` (kept below PM2's kill_timeout),
 * it exits 1 anyway, so PM2 never has to SIGKILL.
 */
export function createShutdown(options: {
  logger: Logger;
  timeoutMs: number;
  steps: ShutdownStep[];
  exit?: (code: number) => void;
}): Shutdown {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let running: Promise<void> | undefined;

  return (reason, exitCode = 0) => {
    if (running) return running;
    const { logger } = options;
    logger.info({ reason }, `Shutting down (${reason})`);
    const deadline = setTimeout(() => {
      logger.error(`Shutdown did not finish within ${options.timeoutMs}ms; forcing exit`);
      exit(1);
    }, options.timeoutMs);
    deadline.unref();

    running = (async () => {
      let code = exitCode;
      for (const step of options.steps) {
        try {
          await step.run();
          logger.debug({ step: step.name }, 'Shutdown step done');
        } catch (error) {
          logger.error({ err: error, step: step.name }, `Shutdown step "${step.name}" failed`);
          code = code || 1;
        }
      }
      clearTimeout(deadline);
      logger.info({ exitCode: code }, 'Shutdown complete');
      exit(code);
    })();
    return running;
  };
}
