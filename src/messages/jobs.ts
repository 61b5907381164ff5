import type { Logger } from '../observability/logger.js';
import type { Job } from '../scheduler/scheduler.js';
import type { Broadcaster } from './broadcaster.js';
import type { MessageRepository } from './repository.js';

const DAY_MS = 86_400_000;

/** Every interval, tells each room that had messages how many arrived in that interval. */
export function roomStatsJob(deps: { messages: MessageRepository; broadcaster: Broadcaster; intervalMs: number }): Job {
  return {
    name: 'room-stats',
    intervalMs: deps.intervalMs,
    async run() {
      const now = new Date();
      const activity = await deps.messages.activitySince(new Date(now.getTime() - deps.intervalMs));
      for (const { room, messages } of activity) {
        deps.broadcaster.stats({ room, messages, windowMs: deps.intervalMs, at: now.toISOString() });
      }
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
