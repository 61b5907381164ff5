import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import { followRoom, type FeedStatus, type Message, type MessagePage } from '../../public/js/room-feed.js';
import { postMessage } from './realtime.js';
import { sleep, waitFor } from './services.js';

/**
 * Clients following a room with the recipe's own code (public/js/room-feed.js), and a steady
 * writer, for the fault tests: afterwards every acknowledged (201) message must be held by
 * every follower exactly once.
 */

export interface Follower {
  socket: Socket;
  held: number[];
  statuses: FeedStatus[];
  stop(): void;
}

export function follow(baseUrl: string, room: string, token: string): Follower {
  const socket = io(baseUrl, { transports: ['websocket'], auth: { token }, forceNew: true });
  const held: number[] = [];
  const statuses: FeedStatus[] = [];
  const feed = followRoom({
    socket,
    room,
    history: 0,
    getPage: async (path: string): Promise<MessagePage> => {
      const res = await fetch(`${baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      return (await res.json()) as MessagePage;
    },
    onMessage: (message) => held.push(message.id),
    onStatus: (status) => statuses.push(status),
  });
  return {
    socket,
    held,
    statuses,
    stop() {
      feed.stop();
      socket.close();
    },
  };
}

/** Resolves once every follower has joined once (it follows from then on: no history). */
export async function joined(followers: Follower[]): Promise<void> {
  await waitFor('every follower to join', () => followers.every((f) => f.statuses.some((s) => s.joined && !s.error)), 30_000, 50);
}

export interface Writer {
  /** Ids of the 201s. */
  posted: number[];
  /** Anything else, with the time it took. */
  failures: string[];
  stop(): Promise<void>;
}

/**
 * Posts a message every `everyMs` (plus the time each POST takes) until stopped. Each on a new
 * connection unless `keepAlive` (a fault test's writer must not stay on a dead instance).
 */
export function startWriter(baseUrl: string, room: string, token: string, everyMs: number, options: { keepAlive?: boolean; timeoutMs?: number } = {}): Writer {
  const posted: number[] = [];
  const failures: string[] = [];
  const state = { running: true };
  const done = (async () => {
    for (let n = 0; state.running; n += 1) {
      try {
        const res = await postMessage(baseUrl, room, { body: `message ${n}` }, token, { timeoutMs: options.timeoutMs ?? 20_000, headers: options.keepAlive ? {} : { connection: 'close' } });
        if (res.status === 201) posted.push(((await res.json()) as Message).id);
        else failures.push(`HTTP ${res.status} ${await res.text()}`);
      } catch (error) {
        failures.push(String(error));
      }
      await sleep(everyMs);
    }
  })();
  return {
    posted,
    failures,
    async stop() {
      state.running = false;
      await done;
    },
  };
}

/** Waits for every follower to hold every posted id, then asserts each holds each once. */
export async function assertEveryoneHoldsAll(followers: Follower[], posted: number[], timeoutMs = 60_000): Promise<void> {
  await waitFor('every follower to hold every acknowledged message', () => followers.every((f) => posted.every((id) => f.held.includes(id))), timeoutMs, 200).catch(() => undefined);
  followers.forEach((f, i) => {
    const missing = posted.filter((id) => !f.held.includes(id));
    assert.deepEqual(missing, [], `follower ${i} misses ${missing.length} of ${posted.length} acknowledged messages; statuses: ${JSON.stringify(f.statuses.slice(-5))}`);
    assert.equal(f.held.length, new Set(f.held).size, `follower ${i} was delivered an id twice`);
  });
}
