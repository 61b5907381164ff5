import type { MessageRepository } from '../../data/message-repository.js';
import type { Broadcaster } from '../../realtime/broadcaster.js';
import type { Job } from '../scheduler.js';

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
