import type { Logger } from './logger.js';

/**
 * For a warning that can repeat on every request (a dependency down): logs the first one,
 * then at most one per `intervalMs`, each saying how many were left out since the last.
 */
export function rateLimitedWarn(logger: Logger, intervalMs = 30_000): (fields: Record<string, unknown>, message: string) => void {
  let last = 0;
  let suppressed = 0;
  return (fields, message) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed += 1;
      return;
    }
    logger.warn({ ...fields, suppressed }, message);
    last = now;
    suppressed = 0;
  };
}
