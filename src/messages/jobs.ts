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
 */
export function roomStatsJob(deps: { messages: MessageRepository; broadcaster: Broadcaster; intervalMs: number; cursor: JobCursor }): Job {
  return {
    name: 'room-stats',
    intervalMs: deps.intervalMs,
    async run() {
      const end = Date.now();
      const start = (await deps.cursor.read()) ?? end - deps.intervalMs;
      // The clock stepped back: wait for it to pass the last window's end, counting nothing twice.
      if (start >= end) return;
      const activity = await deps.messages.activityBetween(new Date(start), new Date(end));
      const at = new Date(end).toISOString();
      for (const { room, messages } of activity) deps.broadcaster.stats({ room, messages, windowMs: end - start, at });
      await deps.cursor.write(end);
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
