import type { Logger } from '../observability/logger.js';
import type { JobCursor } from '../scheduler/job-cursor.js';
import type { Job } from '../scheduler/scheduler.js';
import type { Broadcaster } from './broadcaster.js';
import type { MessageRepository } from './repository.js';

const DAY_MS = 86_400_000;

/**
 * Every interval, tells each room that had messages how many arrived since the last report.
 * Windows are half-open, [previous end, now), and each starts where the last one ended (the
 * end is kept in `cursor`, shared by every worker), so a message is counted in exactly one
 * window however late a tick runs: ticks are an interval apart plus the time a run takes,
 * and a window of a fixed length back from "now" left that time uncounted. The first window
 * (no cursor yet, or it lapsed) is the last interval; `windowMs` is the window's real length.
 * A message whose INSERT is still committing while the window closes is not seen; a
 * single-row insert commits within milliseconds of its created_at.
 * The cursor moves before the report goes out, and only while this run holds the job's lock
 * (job-cursor.ts): a run that lost it to another worker reports nothing, so no window is ever
 * reported twice (a report lost after the move is the price: at most once, never twice).
 */
export function roomStatsJob(deps: { messages: MessageRepository; broadcaster: Broadcaster; intervalMs: number; cursor: JobCursor; logger: Logger }): Job {
  return {
    name: 'room-stats',
    intervalMs: deps.intervalMs,
    async run(lease) {
      const end = Date.now();
      const start = (await deps.cursor.read()) ?? end - deps.intervalMs;
      // The clock stepped back: wait for it to pass the last window's end, counting nothing twice.
      if (start >= end) return;
      const activity = await deps.messages.activityBetween(new Date(start), new Date(end));
      if (!(await deps.cursor.write(end, lease))) {
        deps.logger.warn({ event: 'job-lease-lost', job: 'room-stats' }, 'Lost the job lock during the run; this window is left to the run that holds it');
        return;
      }
      const at = new Date(end).toISOString();
      for (const { room, messages } of activity) deps.broadcaster.stats({ room, messages, windowMs: end - start, at });
    },
  };
}

/** Deletes messages older than the retention limit, so the table does not grow for ever. */
export function pruneMessagesJob(deps: { messages: MessageRepository; retentionDays: number; intervalMs: number; logger: Logger }): Job {
  return {
    name: 'prune-messages',
    intervalMs: deps.intervalMs,
    async run() {
      const cutoff = new Date(Date.now() - deps.retentionDays * DAY_MS);
      const deleted = await deps.messages.deleteOlderThan(cutoff);
      if (deleted > 0) deps.logger.info({ event: 'messages-pruned', deleted, cutoff: cutoff.toISOString() }, `Pruned ${deleted} messages older than ${deps.retentionDays} days`);
    },
  };
}
