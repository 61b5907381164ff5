/**
 * POST → receipt latency: `clients` WebSocket clients spread over the instances join one room;
 * `messages` POSTs to that room, one every `intervalMs`; each client's receipt time of each
 * message is one sample. Clients and the poster share this process, as in the app's tests.
 */
import { io, type Socket } from 'socket.io-client';
import { postMessage } from '../../test/helpers/realtime.js';
import { median, round } from './proc.js';

export interface FanOutFigures {
  clients: number;
  p50Ms: number;
  p99Ms: number;
  delivered: number;
  expected: number;
}

const CONNECT_BATCH = 50;
const ROOM = 'bench-fan-out';

async function connectOne(baseUrl: string, token: string | undefined): Promise<Socket> {
  const socket = io(baseUrl, { transports: ['websocket'], auth: token ? { token } : {}, reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('no connection within 20 s')); }, 20_000);
    socket.once('connect', () => { clearTimeout(timer); resolve(); });
    socket.once('connect_error', (error) => { clearTimeout(timer); reject(error); });
  });
  await socket.timeout(10_000).emitWithAck('join', { room: ROOM });
  return socket;
}

/** Connected clients stay open until `close()`, so memory can be read with them connected. */
export async function connectClients(baseUrl: string, count: number, tokenOf?: (i: number) => Promise<string>): Promise<{ sockets: Socket[]; close(): void }> {
  const sockets: Socket[] = [];
  const close = () => { for (const s of sockets) s.close(); };
  try {
    for (let i = 0; i < count; i += CONNECT_BATCH) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH, count - i) }, async (_, j) => connectOne(baseUrl, tokenOf ? await tokenOf(i + j) : undefined));
      sockets.push(...(await Promise.all(batch)));
    }
  } catch (error) {
    close();
    throw error;
  }
  return { sockets, close };
}

export async function fanOut(baseUrl: string, sockets: Socket[], options: { messages: number; intervalMs: number; token?: string | undefined }): Promise<FanOutFigures> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  for (const socket of sockets) {
    socket.on('message', (message: { body?: string }) => {
      const sent = message.body === undefined ? undefined : sentAt.get(message.body);
      if (sent !== undefined) latencies.push(performance.now() - sent);
    });
  }
  const posts: Promise<void>[] = [];
  for (let i = 0; i < options.messages; i += 1) {
    const body = `bench-${i}-${Math.random().toString(36).slice(2)}`;
    sentAt.set(body, performance.now());
    posts.push(
      postMessage(baseUrl, ROOM, { body }, options.token).then(async (res) => {
        if (res.status !== 201) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  await Promise.all(posts);
  const expected = options.messages * sockets.length;
  const deadline = Date.now() + 10_000;
  while (latencies.length < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const socket of sockets) socket.off('message');
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    clients: sockets.length,
    p50Ms: round(median(sorted)),
    p99Ms: round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0),
    delivered: latencies.length,
    expected,
  };
}
