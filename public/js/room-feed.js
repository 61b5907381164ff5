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
 *
 * Plain JavaScript with no dependency, so the page (public/js/app.js) and the Node tests
 * (test/catch-up-reload.test.ts) run the same code.
 */

/** @typedef {{ instanceId: number, pid: number, host: string }} MessageOrigin */
/** @typedef {{ id: number, room: string, author: string, body: string, createdAt: string, origin?: MessageOrigin }} Message */
/** @typedef {{ ok: true, replayed?: number, more?: boolean, nextCursor?: number } | { ok: false, error: { code: string, message: string } }} JoinResult */
/** @typedef {{ messages: Message[], nextCursor: number | null }} MessagePage */
/** @typedef {{ joined: boolean, error?: string, replayed?: number }} FeedStatus */
/**
 * What the feed needs of a Socket.IO client socket (socket.io-client's `Socket`).
 * @typedef {{
 *   connected: boolean,
 *   on(event: string, listener: (...args: any[]) => void): unknown,
 *   off(event: string, listener: (...args: any[]) => void): unknown,
 *   emit(event: string, ...args: any[]): unknown,
 *   timeout(ms: number): { emitWithAck(event: string, ...args: any[]): Promise<unknown> },
 * }} FeedSocket
 */

const PAGE = 100;
const RETRY_MS = 2000;
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
  /** Each join attempt's number; an older attempt that finishes late changes nothing. */
  let attempt = 0;
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retryTimer;

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
    if (complete && message.room === room) caughtUp = Math.max(caughtUp ?? 0, message.id);
  };

  /** @param {number} mine */
  const retryLater = (mine) => {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (mine === attempt && socket.connected && !stopped) void join();
    }, RETRY_MS);
  };

  const join = async () => {
    const mine = ++attempt;
    complete = false;
    const after = caughtUp;
    /** @type {JoinResult} */
    let result;
    try {
      result = /** @type {JoinResult} */ (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('join', after === undefined ? { room } : { room, after }));
    } catch {
      retryLater(mine); // no ack in time
      return;
    }
    if (mine !== attempt) return;
    if (!result.ok) {
      onStatus({ joined: false, error: result.error.message });
      return;
    }
    try {
      if (after === undefined) {
        // First join: recent history (newest first over HTTP), then live.
        if (history > 0) (await getPage(`/api/rooms/${room}/messages?limit=${history}`)).messages.reverse().forEach(deliver);
      } else if (result.more) {
        for (let cursor = result.nextCursor ?? null; cursor !== null && mine === attempt; ) {
          const page = await getPage(`/api/rooms/${room}/messages?after=${cursor}&limit=${PAGE}`);
          page.messages.forEach(deliver);
          cursor = page.nextCursor;
        }
      }
    } catch (error) {
      if (mine !== attempt) return;
      onStatus({ joined: true, error: `cannot load the room's history: ${error instanceof Error ? error.message : String(error)}` });
      // The gap stays open (`caughtUp` unchanged): the next join replays it again.
      retryLater(mine);
      return;
    }
    if (mine !== attempt) return;
    // Everything stored up to the server's read was replayed or paged, and everything after it arrives live.
    caughtUp = Math.max(caughtUp ?? 0, highest);
    complete = true;
    onStatus({ joined: true, ...(result.replayed !== undefined ? { replayed: result.replayed } : {}) });
  };

  const onConnect = () => void join();
  const onDisconnect = () => {
    attempt += 1;
    complete = false;
  };

  socket.on('message', onLive);
  socket.on('connect', onConnect);
  socket.on('disconnect', onDisconnect);
  if (socket.connected) void join();

  return {
    stop() {
      stopped = true;
      attempt += 1;
      clearTimeout(retryTimer);
      socket.off('message', onLive);
      socket.off('connect', onConnect);
      socket.off('disconnect', onDisconnect);
      if (socket.connected) socket.emit('leave', { room }, () => {});
    },
    caughtUpTo: () => caughtUp,
  };
}
