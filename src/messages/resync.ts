import type { Logger } from '../observability/logger.js';
import type { Realtime } from '../realtime/socket-server.js';
import type { MessageRepository } from './repository.js';
import type { GapEvent, ResyncEvent } from './events.js';

/**
 * How far before a fan-out gap opened a room is resynced: messages still in flight when it
 * opened, and the clocks of the hosts that stamped created_at, are covered by this.
 */
export const RESYNC_MARGIN_MS = 2000;
const RETRY_MS = 5000;

export interface GapState {
  /** While a fan-out gap is open on this instance: the room's resync point (the join's ack says so). */
  openGapAfter(room: string): Promise<number | undefined>;
}

/**
 * Fills a fan-out gap (realtime/fan-out-gaps.ts) from PostgreSQL. When it opens, each room this
 * instance's clients are in gets a `gap` event naming the newest message stored before it
 * opened (less a margin): live messages no longer prove the room whole, so the recipe
 * (public/js/room-feed.js) stops moving its catch-up point with them, and a client that moves
 * to another instance meanwhile rejoins from there. Once the adapter delivers again, each
 * room gets a `resync` event with that point; the recipe rejoins from it, so what the gap lost
 * is replayed and what it already holds is dropped by id. If the database cannot answer the
 * resync, it tries again every 5 s until it does.
 */
export function resyncAfterFanOutGaps(deps: { realtime: Realtime; repository: MessageRepository; logger: Logger }): GapState {
  const gaps = deps.realtime.fanOutGaps;
  if (!gaps) return { openGapAfter: () => Promise.resolve(undefined) };
  const log = deps.logger.child({ component: 'resync' });
  const pointOf = (room: string, gapStartedAt: number) => deps.repository.lastIdBefore(room, new Date(gapStartedAt - RESYNC_MARGIN_MS));
  let pending: number | undefined;
  let timer: NodeJS.Timeout | undefined;

  const run = async () => {
    const from = pending;
    if (from === undefined) return;
    const rooms = deps.realtime.localRooms();
    try {
      const points: ResyncEvent[] = [];
      for (const room of rooms) points.push({ room, after: await pointOf(room, from) });
      if (pending === from) pending = undefined;
      for (const point of points) deps.realtime.io.local.to(point.room).emit('resync', point);
      log.info({ event: 'resync-sent', rooms: points.length }, `Resync sent to ${points.length} room(s)`);
    } catch (error) {
      log.warn({ event: 'resync-failed', err: error }, `Cannot read the resync points; retrying in ${RETRY_MS / 1000} s`);
      timer = setTimeout(() => void run(), RETRY_MS);
      timer.unref();
    }
  };

  gaps.onOpened((gapStartedAt) => {
    void (async () => {
      for (const room of deps.realtime.localRooms()) {
        // Without the database the event still says "not whole": the client keeps the point it has.
        const after = await pointOf(room, gapStartedAt).catch(() => undefined);
        const event: GapEvent = after === undefined ? { room } : { room, after };
        deps.realtime.io.local.to(room).emit('gap', event);
      }
    })();
  });

  gaps.onClosed((gapStartedAt) => {
    // Overlapping gaps: resync from the earliest.
    pending = Math.min(pending ?? gapStartedAt, gapStartedAt);
    clearTimeout(timer);
    void run();
  });

  return {
    async openGapAfter(room) {
      const since = gaps.openSince();
      return since === undefined ? undefined : pointOf(room, since);
    },
  };
}
