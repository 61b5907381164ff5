// @ts-check
/**
 * The client recipe of docs/realtime.md: follow one room over a Socket.IO connection and hold
 * every message exactly once, across disconnects, `pm2 reload` and instance restarts.
 *
 * - On every (re)connect it joins with `after`: the id up to which it holds everything. The
 *   server joins the room first, then replays what is newer (up to 100; the ack says when
 *   more wait, and they are paged over HTTP).
 * - Because the server joins before it reads, a message can arrive both live and replayed:
 *   each id is delivered once. A live message can overtake replayed ones, so show by id.
 * - When an instance's fan-out may be missing messages (Redis down, failed over, a publish
 *   lost) the server sends `gap` with the id up to which the room was surely delivered (the
 *   join's ack says the same while a gap is open): from then on live messages no longer move
 *   the point the feed holds everything up to, so a feed that reconnects elsewhere meanwhile
 *   rejoins from before the gap. Once fan-out is whole again the server sends `resync` with
 *   that id; the feed rejoins from there, so the gap is filled from PostgreSQL.
 * - It never gives up: a refused or failed join, and a connection refused by the server's
 *   middleware (the per-user socket cap, a database that cannot serve), are retried with
 *   back-off (1 s doubling to 15 s, with jitter) until they succeed. Only a refused token
 *   (`UNAUTHORIZED`) is final: retrying cannot mend it.
 *
 * Plain JavaScript with no dependency, so the page (public/js/app.js) and the Node tests
 * (test/catch-up-reload.test.ts) run the same code.
 */

/** @typedef {{ instanceId: number, pid: number, host: string }} MessageOrigin */
/** @typedef {{ id: number, room: string, author: string, body: string, createdAt: string, origin?: MessageOrigin }} Message */
/** @typedef {{ ok: true, replayed?: number, more?: boolean, nextCursor?: number, gap?: { after: number } } | { ok: false, error: { code: string, message: string } }} JoinResult */
/** @typedef {{ messages: Message[], nextCursor: number | null }} MessagePage */
/** @typedef {{ joined: boolean, error?: string, replayed?: number, retryInMs?: number }} FeedStatus */
/** @typedef {{ room: string, after: number }} Resync */
/** @typedef {{ room: string, after?: number }} Gap */
/**
 * What the feed needs of a Socket.IO client socket (socket.io-client's `Socket`).
 * @typedef {{
 *   connected: boolean,
 *   active: boolean,
 *   connect(): unknown,
 *   on(event: string, listener: (...args: any[]) => void): unknown,
 *   off(event: string, listener: (...args: any[]) => void): unknown,
 *   emit(event: string, ...args: any[]): unknown,
 *   timeout(ms: number): { emitWithAck(event: string, ...args: any[]): Promise<unknown> },
 * }} FeedSocket
 */

const PAGE = 100;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15_000;
const ACK_TIMEOUT_MS = 10_000;

/**
 * @param {object} options
 * @param {FeedSocket} options.socket a connected or connecting socket, reconnection on (the default)
 * @param {string} options.room
 * @param {(message: Message) => void} options.onMessage called once per message id
 * @param {(path: string) => Promise<MessagePage>} options.getPage GETs `path` (e.g. `/api/rooms/lobby/messages?after=7&limit=100`) from the API
 * @param {number} [options.history] recent messages to load on the first join
 * @param {(status: FeedStatus) => void} [options.onStatus]
 * @returns {{ stop(): void, caughtUpTo(): number | undefined }}
 */
export function followRoom({ socket, room, onMessage, getPage, history = 50, onStatus = () => {} }) {
  /** @type {Set<number>} */
  const held = new Set();
  let highest = 0;
  /** @type {number | undefined} every message up to this id is held; undefined until the first join */
  let caughtUp;
  /** Joined with no gap being filled: only then does a live message move `caughtUp`. */
  let complete = false;
  /** The server's fan-out has a gap (`gap` event or the join's ack): live messages prove nothing until `resync`. */
  let gapOpen = false;
  /** `gap` events received: a join that saw one arrive while it ran keeps the gap open. */
  let gapsSeen = 0;
  /** The lowest `after` of the `gap` events seen while the current join ran. */
  /** @type {number | undefined} */
  let gapFloor;
  /** The highest replayed id (a `message` without `origin`) seen while the current join ran. */
  let replayedUpTo = 0;
  /** Each join attempt's number; an older attempt that finishes late changes nothing. */
  let attempt = 0;
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retryTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let reconnectTimer;
  /** Failures in a row, of joins and of refused connections: the back-off grows with them. */
  let failures = 0;
  const backOff = () => {
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(failures, 10));
    failures += 1;
    // Jitter, so clients refused together do not all come back in the same instant.
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  };

  /** @param {Message} message */
  const deliver = (message) => {
    if (message.room !== room || held.has(message.id)) return;
    held.add(message.id);
    highest = Math.max(highest, message.id);
    onMessage(message);
  };

  /** @param {Message} message */
  const onLive = (message) => {
    deliver(message);
    if (message.room !== room) return;
    if (!message.origin) replayedUpTo = Math.max(replayedUpTo, message.id);
    else if (complete && !gapOpen) caughtUp = Math.max(caughtUp ?? 0, message.id);
  };

  const forgetLastJoin = () => {
    gapFloor = undefined;
    replayedUpTo = 0;
  };

  /** @param {number} mine @returns {number} the delay */
  const retryLater = (mine) => {
    clearTimeout(retryTimer);
    const delay = backOff();
    retryTimer = setTimeout(() => {
      // A disconnected socket rejoins on its next connect instead.
      if (mine === attempt && socket.connected && !stopped) void join();
    }, delay);
    return delay;
  };

  const join = async () => {
    const mine = ++attempt;
    complete = false;
    const after = caughtUp;
    const gapsBefore = gapsSeen;
    forgetLastJoin();
    let pagedUpTo = 0;
    /** @type {JoinResult} */
    let result;
    try {
      result = /** @type {JoinResult} */ (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('join', after === undefined ? { room } : { room, after }));
    } catch {
      if (mine === attempt) retryLater(mine); // no ack in time
      return;
    }
    if (mine !== attempt) return;
    if (!result.ok) {
      // E.g. "Database is unavailable": the server has not kept this socket in the room.
      const retryInMs = retryLater(mine);
      onStatus({ joined: false, error: `${result.error.message}; retrying in ${Math.ceil(retryInMs / 1000)} s`, retryInMs });
      return;
    }
    try {
      if (after === undefined) {
        // First join: recent history (newest first over HTTP), then live.
        if (history > 0) {
          const { messages } = await getPage(`/api/rooms/${room}/messages?limit=${history}`);
          messages.reverse().forEach(deliver);
          pagedUpTo = Math.max(pagedUpTo, ...messages.map((m) => m.id));
        }
      } else if (result.more) {
        for (let cursor = result.nextCursor ?? null; cursor !== null && mine === attempt; ) {
          const page = await getPage(`/api/rooms/${room}/messages?after=${cursor}&limit=${PAGE}`);
          page.messages.forEach(deliver);
          pagedUpTo = Math.max(pagedUpTo, ...page.messages.map((m) => m.id));
          cursor = page.nextCursor;
        }
      }
    } catch (error) {
      if (mine !== attempt) return;
      // The gap stays open (`caughtUp` unchanged): the next join replays it again.
      const retryInMs = retryLater(mine);
      onStatus({ joined: true, error: `cannot load the room's history: ${error instanceof Error ? error.message : String(error)}; retrying in ${Math.ceil(retryInMs / 1000)} s`, retryInMs });
      return;
    }
    if (mine !== attempt) return;
    gapOpen = result.gap !== undefined || gapsSeen !== gapsBefore;
    if (!gapOpen) {
      // Everything stored up to the server's read was replayed or paged, and everything after it arrives live.
      caughtUp = Math.max(caughtUp ?? 0, highest);
    } else {
      // Only what was replayed or paged is surely whole: live messages may have passed lost ones.
      caughtUp = Math.max(caughtUp ?? 0, after ?? result.gap?.after ?? gapFloor ?? 0, replayedUpTo, pagedUpTo);
      if (gapFloor !== undefined) caughtUp = Math.min(caughtUp, gapFloor);
    }
    complete = true;
    failures = 0;
    onStatus({ joined: true, ...(result.replayed !== undefined ? { replayed: result.replayed } : {}) });
  };

  const onConnect = () => void join();
  const onDisconnect = () => {
    attempt += 1;
    complete = false;
  };
  /** @param {Gap} gap */
  const onGap = (gap) => {
    if (gap.room !== room || stopped) return;
    gapsSeen += 1;
    gapOpen = true;
    if (typeof gap.after !== 'number') return;
    gapFloor = Math.min(gapFloor ?? gap.after, gap.after);
    if (caughtUp !== undefined) caughtUp = Math.min(caughtUp, gap.after);
  };
  /** @param {Resync} resync */
  const onResync = (resync) => {
    if (resync.room !== room || caughtUp === undefined || stopped) return;
    // Live messages may have moved `caughtUp` past ones the fan-out lost: go back to where the
    // server says delivery was whole, and rejoin from there (ids already held are dropped).
    caughtUp = Math.min(caughtUp, resync.after);
    if (socket.connected) void join();
  };
  /** @param {Error & { data?: { code?: string } }} error */
  const onConnectError = (error) => {
    // socket.io-client retries a connection it could not make, but not one the server's
    // middleware refused (`active` false): that one is retried here, unless the token was refused.
    if (socket.active || stopped || error.data?.code === 'UNAUTHORIZED') return;
    clearTimeout(reconnectTimer);
    const retryInMs = backOff();
    onStatus({ joined: false, error: `Connection refused: ${error.message}; retrying in ${Math.ceil(retryInMs / 1000)} s`, retryInMs });
    reconnectTimer = setTimeout(() => {
      if (!stopped && !socket.connected && !socket.active) socket.connect();
    }, retryInMs);
  };

  socket.on('message', onLive);
  socket.on('resync', onResync);
  socket.on('gap', onGap);
  socket.on('connect', onConnect);
  socket.on('disconnect', onDisconnect);
  socket.on('connect_error', onConnectError);
  if (socket.connected) void join();

  return {
    stop() {
      stopped = true;
      attempt += 1;
      clearTimeout(retryTimer);
      clearTimeout(reconnectTimer);
      socket.off('message', onLive);
      socket.off('resync', onResync);
      socket.off('gap', onGap);
      socket.off('connect', onConnect);
      socket.off('disconnect', onDisconnect);
      socket.off('connect_error', onConnectError);
      if (socket.connected) socket.emit('leave', { room }, () => {});
    },
    caughtUpTo: () => caughtUp,
  };
}
