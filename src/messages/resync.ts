import type { Logger } from '../observability/logger.js';
import type { Realtime } from '../realtime/socket-server.js';
import type { MessageRepository } from './repository.js';
import type { ResyncEvent } from './events.js';

/**
 * How far before a fan-out gap opened a room is resynced: messages still in flight when it
 * opened, and the clocks of the hosts that stamped created_at, are covered by this.
 */
export const RESYNC_MARGIN_MS = 2000;
const RETRY_MS = 5000;

/**
 * Fills a fan-out gap (realtime/fan-out-gaps.ts) from PostgreSQL: once the adapter delivers
 * again, each room this instance's clients are in gets a `resync` event naming the newest
 * message stored before the gap opened (less a margin). The recipe (public/js/room-feed.js)
 * rejoins from there, so what the gap lost is replayed and what it already holds is dropped
 * by id. If the database cannot answer, it tries again every 5 s until it does.
 */
export function resyncAfterFanOutGaps(deps: { realtime: Realtime; repository: MessageRepository; logger: Logger }): void {
  const gaps = deps.realtime.fanOutGaps;
  if (!gaps) return;
  const log = deps.logger.child({ component: 'resync' });
  let pending: number | undefined;
  let timer: NodeJS.Timeout | undefined;

  const run = async () => {
    const from = pending;
    if (from === undefined) return;
    const before = new Date(from - RESYNC_MARGIN_MS);
    const rooms = deps.realtime.localRooms();
    try {
      const points: ResyncEvent[] = [];
      for (const room of rooms) points.push({ room, after: await deps.repository.lastIdBefore(room, before) });
      if (pending === from) pending = undefined;
      for (const point of points) deps.realtime.io.local.to(point.room).emit('resync', point);
      log.info({ event: 'resync-sent', rooms: points.length }, `Resync sent to ${points.length} room(s)`);
    } catch (error) {
      log.warn({ event: 'resync-failed', err: error }, `Cannot read the resync points; retrying in ${RETRY_MS / 1000} s`);
      timer = setTimeout(() => void run(), RETRY_MS);
      timer.unref();
    }
  };

  gaps.onClosed((gapStartedAt) => {
    // Overlapping gaps: resync from the earliest.
    pending = Math.min(pending ?? gapStartedAt, gapStartedAt);
    clearTimeout(timer);
    void run();
  });
}
