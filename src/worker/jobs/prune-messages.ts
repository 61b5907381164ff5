import type { MessageRepository } from '../../data/message-repository.js';
import type { Logger } from '../../observability/logger.js';
import type { Job } from '../scheduler.js';

const DAY_MS = 86_400_000;

/** Deletes messages older than the retention limit, so the table does not grow for ever. */
export function pruneMessagesJob(deps: { messages: MessageRepository; retentionDays: number; intervalMs: number; logger: Logger }): Job {
  return {
    name: 'prune-messages',
    intervalMs: deps.intervalMs,
    async run() {
      const cutoff = new Date(Date.now() - deps.retentionDays * DAY_MS);
      const deleted = await deps.messages.deleteOlderThan(cutoff);
      if (deleted > 0) deps.logger.info({ deleted, cutoff: cutoff.toISOString() }, `Pruned ${deleted} messages older than ${deps.retentionDays} days`);
    },
  };
}
