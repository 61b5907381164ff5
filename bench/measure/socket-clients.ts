/**
 * A child process of the 10,000-socket run (bench/measure/fan-out-at-scale.ts): holds `count`
 * WebSocket clients joined to one room, and for each message the parent names, reports when
 * each of its clients had it (wall-clock ms, comparable across processes on one host).
 * One process could hold them all, but then its own event loop, not the server, would decide
 * when the last one "has" a message.
 */
import { io, type Socket } from 'socket.io-client';
import { createTokenService } from '../../src/auth/jwt.js';

export type ToChild =
  | { kind: 'connect'; baseUrl: string; count: number; room: string; jwtSecret?: string; userPrefix: string }
  | { kind: 'expect'; body: string }
  | { kind: 'close' };
export type FromChild = { kind: 'connected'; count: number } | { kind: 'received'; body: string; at: number[] } | { kind: 'error'; message: string };

const BATCH = 100;
const now = () => performance.timeOrigin + performance.now();
const send = (message: FromChild) => { process.send?.(message); };
const sockets: Socket[] = [];
let expected: { body: string; at: number[] } | undefined;
let timer: NodeJS.Timeout | undefined;

function report(): void {
  if (!expected) return;
  clearTimeout(timer);
  send({ kind: 'received', body: expected.body, at: expected.at });
  expected = undefined;
}

async function connectOne(baseUrl: string, room: string, token: string | undefined): Promise<Socket> {
  const socket = io(baseUrl, { transports: ['websocket'], auth: token ? { token } : {}, reconnection: false, forceNew: true, timeout: 60_000 });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => { resolve(); });
    socket.once('connect_error', reject);
  });
  await socket.timeout(60_000).emitWithAck('join', { room });
  socket.on('message', (message: { body?: string }) => {
    if (expected && message.body === expected.body) {
      expected.at.push(now());
      if (expected.at.length === sockets.length) report();
    }
  });
  return socket;
}

process.on('message', (message: ToChild) => {
  void (async () => {
    if (message.kind === 'connect') {
      const tokens = message.jwtSecret ? createTokenService(message.jwtSecret) : undefined;
      for (let i = 0; i < message.count; i += BATCH) {
        const batch = Array.from({ length: Math.min(BATCH, message.count - i) }, async (_, j) => connectOne(message.baseUrl, message.room, tokens ? await tokens.sign(`${message.userPrefix}-${i + j}`) : undefined));
        sockets.push(...(await Promise.all(batch)));
      }
      send({ kind: 'connected', count: sockets.length });
    } else if (message.kind === 'expect') {
      expected = { body: message.body, at: [] };
      // Whatever arrived within 20 s; the parent counts what is missing.
      timer = setTimeout(report, 20_000);
    } else {
      for (const socket of sockets) socket.close();
      process.disconnect();
    }
  })().catch((error: unknown) => { send({ kind: 'error', message: String(error) }); });
});
