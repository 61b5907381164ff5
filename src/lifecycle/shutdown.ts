import { exitAfterLogs, type Logger } from '../observability/logger.js';
import { withTimeout } from './timeout.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<void> | void;
}

/**
 * An idempotent, ordered stop: runs the steps in order, each even if an earlier one failed,
 * and resolves true when every step succeeded. Calling it again returns the same promise.
 * With `timeoutMs`, every step must end before that much time has passed since the stop
 * began: a step still running then is given up (logged as failed) and the next one runs, so
 * one hung step never keeps Redis or the database from being closed.
 */
export function createStop(steps: ShutdownStep[], logger: Logger, options: { timeoutMs?: number } = {}): () => Promise<boolean> {
  let running: Promise<boolean> | undefined;
  return () => {
    running ??= (async () => {
      const deadline = Date.now() + (options.timeoutMs ?? Infinity);
      let ok = true;
      for (const step of steps) {
        try {
          const run = Promise.resolve().then(step.run);
          await (Number.isFinite(deadline) ? withTimeout(run, Math.max(0, deadline - Date.now()), `shutdown step "${step.name}"`) : run);
          logger.debug({ step: step.name }, 'Shutdown step done');
        } catch (error) {
          logger.error({ event: 'shutdown-step-failed', err: error, step: step.name }, `Shutdown step "${step.name}" failed`);
          ok = false;
        }
      }
      return ok;
    })();
    return running;
  };
}

// What the steps after the HTTP drain (Socket.IO, database, membership, Redis) are given at most.
const LATER_STEPS_MS = 2500;
// Left for the exit itself after the stop.
const EXIT_MARGIN_MS = 500;

/**
 * How an API instance splits SHUTDOWN_TIMEOUT_MS: every step of its stop ends within
 * `stopMs`; the HTTP drain gets `drainMs`, what the later steps do not need, and cuts off
 * whatever request is still running at its end. Deployment files are checked against it: the
 * longest request (pool wait + statement timeout) must fit in `drainMs`.
 */
export function shutdownBudget(timeoutMs: number): { stopMs: number; drainMs: number } {
  const stopMs = timeoutMs - EXIT_MARGIN_MS;
  return { stopMs, drainMs: stopMs - Math.min(LATER_STEPS_MS, Math.floor(stopMs / 3)) };
}

export type Shutdown = (reason: string, exitCode?: number) => Promise<void>;

/**
 * The process's one shutdown: stops what runs, then exits. If stopping has not finished within
 * `timeoutMs` (kept below PM2's kill_timeout), it exits 1 anyway, so PM2 never has to SIGKILL.
 */
export function createShutdown(options: {
  logger: Logger;
  timeoutMs: number;
  stop: () => Promise<boolean>;
  exit?: (code: number) => void;
}): Shutdown {
  // Log lines may still be on their way to PM2's log file: exit once they are there.
  const exit = options.exit ?? ((code: number) => { exitAfterLogs(options.logger, code); });
  let running: Promise<void> | undefined;

  return (reason, exitCode = 0) => {
    if (running) return running;
    const { logger } = options;
    logger.info({ event: 'shutdown-started', reason }, `Shutting down (${reason})`);
    const deadline = setTimeout(() => {
      logger.error({ event: 'shutdown-deadline', timeoutMs: options.timeoutMs }, `Shutdown did not finish within ${options.timeoutMs}ms; forcing exit`);
      exit(1);
    }, options.timeoutMs);
    deadline.unref();

    running = (async () => {
      const ok = await options.stop();
      const code = exitCode || (ok ? 0 : 1);
      clearTimeout(deadline);
      logger.info({ event: 'shutdown-complete', exitCode: code }, 'Shutdown complete');
      exit(code);
    })();
    return running;
  };
}
