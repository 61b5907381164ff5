import { io, type Socket } from 'socket.io-client';
import { followRoom, type Message, type MessagePage } from '../../public/js/room-feed.js';
import { postMessage } from './realtime.js';
import { sleep } from './services.js';

/**
 * Many Socket.IO clients, each following its room with the recipe of docs/realtime.md (the
 * page's own public/js/room-feed.js), and a writer posting round the rooms: what the cluster
 * and lab tests check "every acknowledged message held by every follower exactly once" with.
 */
export interface Follower {
  room: string;
  socket: Socket;
  held: number[];
  joined: boolean;
  stop(): void;
}

export function startFollowers(options: { baseUrl: string; rooms: string[]; perRoom: number; token: (i: number) => string }): Follower[] {
  const getPage = async (path: string): Promise<MessagePage> => {
    const res = await fetch(`${options.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return (await res.json()) as MessagePage;
  };
  const followers: Follower[] = [];
  options.rooms.forEach((room, r) => {
    for (let i = 0; i < options.perRoom; i += 1) {
      const socket = io(options.baseUrl, { transports: ['websocket'], auth: { token: options.token(r * options.perRoom + i) }, forceNew: true, reconnectionDelayMax: 2000 });
      const follower: Follower = { room, socket, held: [], joined: false, stop: () => undefined };
      const feed = followRoom({
        socket,
        room,
        history: 0,
        getPage,
        onMessage: (message: Message) => follower.held.push(message.id),
        onStatus: (status) => {
          if (status.joined && !status.error) follower.joined = true;
        },
      });
      follower.stop = () => {
        feed.stop();
        socket.close();
      };
      followers.push(follower);
    }
  });
  return followers;
}

/** What a follower lacks of, or holds twice of, the ids acknowledged in its room. */
export function followerProblems(followers: Follower[], acknowledged: Map<string, number[]>): string[] {
  const problems: string[] = [];
  for (const [index, follower] of followers.entries()) {
    const expected = acknowledged.get(follower.room) ?? [];
    const held = new Set(follower.held);
    const missing = expected.filter((id) => !held.has(id));
    if (missing.length > 0) problems.push(`follower ${index} (${follower.room}) misses ${missing.length} of ${expected.length}: ${missing.slice(0, 5).join(', ')}`);
    if (held.size !== follower.held.length) problems.push(`follower ${index} (${follower.room}) holds ${follower.held.length - held.size} ids twice`);
  }
  return problems;
}

export interface Writer {
  /** Ids of the 201s, by room. */
  acknowledged: Map<string, number[]>;
  failures: string[];
  attempts: number;
  stop(): Promise<void>;
}

/** Posts round `rooms` every `everyMs` until stopped. */
export function startWriter(baseUrl: string, rooms: string[], token: string, everyMs: number): Writer {
  const acknowledged = new Map<string, number[]>(rooms.map((room) => [room, []]));
  const state = { running: true };
  const writer: Writer = { acknowledged, failures: [], attempts: 0, stop: () => Promise.resolve() };
  const done = (async () => {
    for (let n = 0; state.running; n += 1) {
      const room = rooms[n % rooms.length] ?? '';
      writer.attempts += 1;
      try {
        const res = await postMessage(baseUrl, room, { body: `lab message ${n}` }, token, { timeoutMs: 10_000 });
        if (res.status === 201) acknowledged.get(room)?.push(((await res.json()) as Message).id);
        else writer.failures.push(`HTTP ${res.status} at ${new Date().toISOString()}`);
      } catch (error) {
        writer.failures.push(`${String(error)} at ${new Date().toISOString()}`);
      }
      await sleep(everyMs);
    }
  })();
  writer.stop = async () => {
    state.running = false;
    await done;
  };
  return writer;
}
