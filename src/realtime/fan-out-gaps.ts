import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { RealtimeServer } from './socket-server.js';

/**
 * Knows when this instance's Socket.IO Redis adapter may have missed events, and says so
 * once it can deliver again. Events are fire-and-forget over Redis pub/sub, so a gap opens
 * when
 * - the adapter's subscriber or publisher connection leaves `ready` (Redis down, restarted,
 *   failed over, a network cut): what others published meanwhile never arrives here;
 * - a publish fails: what this instance emitted never reached the others. They may not have
 *   seen a gap of their own, so once Redis answers this instance tells them (a server-side
 *   event through the adapter).
 * The gap closes when both connections are ready again and have had `settleMs` to restore
 * their subscriptions (ioredis re-subscribes after `ready`). Then every listener gets the
 * time the gap opened, and fills it (messages/resync.ts). Gaps that overlap are one gap.
 * Listeners also hear when a gap opens, so clients stop counting live messages as whole
 * until it is filled.
 */
export interface FanOutGaps {
  /** Called once per gap, when it opens (`gapStartedAt` as below). */
  onOpened(listener: (gapStartedAt: number) => void): void;
  /** `gapStartedAt`: Date.now() when the earliest part of the gap opened. */
  onClosed(listener: (gapStartedAt: number) => void): void;
  /** When the open gap started; undefined while fan-out is whole. */
  openSince(): number | undefined;
  /** Called by the adapter's guarded publisher (redis/client.ts) when a publish fails. */
  publishFailed(): void;
  close(): void;
}

const REMOTE_GAP_EVENT = 'fan-out-gap';

export function watchFanOutGaps(io: RealtimeServer, connections: { pub: Redis; sub: Redis }, options: { logger: Logger; settleMs?: number }): FanOutGaps {
  const settleMs = options.settleMs ?? 1000;
  const log = options.logger.child({ component: 'fan-out-gaps' });
  const listeners: ((gapStartedAt: number) => void)[] = [];
  const openListeners: ((gapStartedAt: number) => void)[] = [];
  let gapStartedAt: number | undefined;
  let publishFailedSince = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const ready = () => connections.pub.status === 'ready' && connections.sub.status === 'ready';

  const open = (at: number, why: string) => {
    if (closed) return; // shutting down: the connections close on purpose
    const opening = gapStartedAt === undefined;
    if (opening) log.warn({ event: 'fan-out-gap', reason: why }, `Fan-out may be missing events (${why}); rooms are resynced once Redis answers`);
    gapStartedAt = Math.min(gapStartedAt ?? at, at);
    if (opening) for (const listener of openListeners) listener(gapStartedAt);
    clearTimeout(timer);
    timer = undefined;
    if (ready()) scheduleClose();
  };

  function scheduleClose(): void {
    if (closed || timer || gapStartedAt === undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (!ready() || gapStartedAt === undefined) return; // a connection dropped again; its 'ready' reschedules
      const startedAt = gapStartedAt;
      const tellOthers = publishFailedSince;
      gapStartedAt = undefined;
      publishFailedSince = false;
      log.info({ event: 'fan-out-resync', gapMs: Date.now() - startedAt, toOthers: tellOthers }, 'Fan-out restored; resyncing rooms from the database');
      // The others may have stayed connected while our publishes failed: they resync too.
      if (tellOthers) io.serverSideEmit(REMOTE_GAP_EVENT, Date.now() - startedAt);
      for (const listener of listeners) listener(startedAt);
    }, settleMs);
    timer.unref();
  }

  for (const [name, client] of Object.entries(connections)) {
    client.on('close', () => { open(Date.now(), `Redis ${name} connection lost`); });
    client.on('ready', scheduleClose);
  }
  io.on(REMOTE_GAP_EVENT, (sinceMs: unknown) => {
    if (typeof sinceMs === 'number' && Number.isFinite(sinceMs) && sinceMs >= 0) open(Date.now() - sinceMs, 'another instance could not publish');
  });

  return {
    onOpened(listener) {
      openListeners.push(listener);
    },
    onClosed(listener) {
      listeners.push(listener);
    },
    openSince: () => gapStartedAt,
    publishFailed() {
      publishFailedSince = true;
      open(Date.now(), 'a publish failed');
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
