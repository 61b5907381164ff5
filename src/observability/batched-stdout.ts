import type { DestinationStream } from 'pino';

// Past this, a batch is written at once rather than at the end of the event-loop turn.
const MAX_BATCH_CHARS = 64 * 1024;

/**
 * Log lines for PM2: PM2 replaces `process.stdout.write` in its instances with one that sends
 * each chunk over IPC to the daemon (for `pm2 logs`) and appends it to the log file. Called
 * once per line, that costs the instance and the daemon tens of µs per line
 * (docs/benchmarks.md). This collects the lines of one event-loop turn and writes them in one
 * call; a line waits at most until the turn ends. `flush(done)` writes what is pending at once
 * and calls `done` once PM2 has appended it to the log file (pino's `logger.flush(done)` calls
 * it; every exit waits for it, see `exitAfterLogs` in logger.ts): PM2 appends asynchronously, so
 * a line written just before `process.exit` would otherwise be lost.
 *
 * pino's own asynchronous destination (sonic-boom) writes to file descriptor 1, which under
 * PM2's cluster mode is the daemon's own log, not the app's: lines would leave `pm2 logs`.
 */
export type Write = (chunk: string, written?: () => void) => void;

// PM2's replacement takes (chunk, encoding, callback), and calls back once the file write is done.
export const toStdout: Write = (chunk, written) => process.stdout.write(chunk, 'utf8', written);

export function batchedStdout(write: Write = toStdout): DestinationStream & { flush(done?: () => void): void } {
  let pending = '';
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (done?: () => void) => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (pending === '') {
      done?.();
      return;
    }
    const chunk = pending;
    pending = '';
    write(chunk, done);
  };
  return {
    write(line: string) {
      pending += line;
      if (pending.length >= MAX_BATCH_CHARS) flush();
      else scheduled ??= setImmediate(() => { flush(); });
    },
    flush,
  };
}

/** True when something (PM2) has replaced stdout's write, as pino itself checks. */
export function stdoutIsIntercepted(): boolean {
  const prototype = Object.getPrototypeOf(process.stdout) as { write?: unknown } | null;
  return process.stdout.write !== prototype?.write;
}
