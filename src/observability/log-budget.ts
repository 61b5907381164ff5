import type { Logger } from './logger.js';

/**
 * How many lines a client can make this instance write: at most `linesPerSecond` per second
 * (0 = no bound) for everything clients cause (the access log, refused connections). Past it
 * a line is dropped and counted; one `log-lines-dropped` warning a second says how many were
 * dropped (and `log_lines_dropped_total` counts them for Prometheus), so a flood costs at most
 * `linesPerSecond` lines plus one, whatever it sends. Together with bounded fields
 * (`boundedText`), that bounds the bytes per second (docs/operations.md).
 */
export interface LogBudget {
  /** True if one more line may be written now; false (and counted) if this second's budget is spent. */
  take(): boolean;
  /** Lines dropped since start. */
  dropped(): number;
}

// A URL is logged up to this many characters, then `…(+N)`: enough for any route this API serves with its query.
export const MAX_LOGGED_TEXT = 256;

/** `text` cut to MAX_LOGGED_TEXT characters, saying how many were left out. */
export function boundedText(text: string, max = MAX_LOGGED_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(+${text.length - max})`;
}

export function createLogBudget(logger: Logger, linesPerSecond: number): LogBudget {
  let windowStart = 0;
  let used = 0;
  let total = 0;
  let droppedInWindow = 0;
  let report: NodeJS.Timeout | undefined;
  return {
    take() {
      if (linesPerSecond === 0) return true;
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        used = 0;
      }
      if (used < linesPerSecond) {
        used += 1;
        return true;
      }
      total += 1;
      droppedInWindow += 1;
      // One summary a second while dropping, written by a timer so the last second is reported too.
      report ??= setTimeout(() => {
        report = undefined;
        logger.warn({ event: 'log-lines-dropped', dropped: droppedInWindow, linesPerSecond }, `${droppedInWindow} log lines dropped: over LOG_LINES_PER_SECOND (${linesPerSecond})`);
        droppedInWindow = 0;
      }, 1000).unref();
      return false;
    },
    dropped: () => total,
  };
}
