import { io, type Socket } from 'socket.io-client';
import type { MessageClientEvents, MessageServerEvents } from '../../src/messages/events.js';
import type { EventAck } from '../../src/realtime/socket-events.js';
import type { Hello, TokenExpired } from '../../src/realtime/socket-server.js';

export interface ServerToClientEvents extends MessageServerEvents {
  hello: (hello: Hello) => void;
  'token-expired': (expired: TokenExpired) => void;
}
export type TestSocket = Socket<ServerToClientEvents, MessageClientEvents>;

/** Connects over WebSocket and resolves with the server's `hello` (which instance serves it). */
export async function connect(baseUrl: string, token: string | undefined): Promise<{ socket: TestSocket; hello: Hello }> {
  const socket: TestSocket = io(baseUrl, { transports: ['websocket'], auth: token ? { token } : {}, reconnection: true, forceNew: true });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no hello within 10s'));
    }, 10_000);
    socket.once('hello', (hello) => {
      clearTimeout(timer);
      resolve({ socket, hello });
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
  });
}

type Client = { socket: TestSocket; hello: Hello };

/** Two connected clients served by two different instance pids (round-robin spreads new connections). */
export async function connectToTwoInstances(baseUrl: string, token: string): Promise<[Client, Client]> {
  const first = await connect(baseUrl, token);
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const other = await connect(baseUrl, token);
    if (other.hello.pid !== first.hello.pid) return [first, other];
    other.socket.close();
  }
  first.socket.close();
  throw new Error('every connection reached the same instance');
}

export async function join(socket: TestSocket, room: string): Promise<EventAck> {
  return (await socket.timeout(5000).emitWithAck('join', { room })) as EventAck;
}

/** Emits any event with any arguments and waits for its acknowledgement, as a hand-written (or hostile) client may. */
export async function emitRaw(socket: TestSocket, event: string, ...args: unknown[]): Promise<EventAck> {
  return (await (socket.timeout(5000) as unknown as { emitWithAck(e: string, ...a: unknown[]): Promise<unknown> }).emitWithAck(event, ...args)) as EventAck;
}

/** Records every event of a kind a socket receives. */
export function collect<E extends keyof ServerToClientEvents>(socket: TestSocket, event: E): Parameters<ServerToClientEvents[E]>[0][] {
  const seen: Parameters<ServerToClientEvents[E]>[0][] = [];
  (socket as unknown as { on(e: string, l: (v: unknown) => void): void }).on(event, (value) => seen.push(value as Parameters<ServerToClientEvents[E]>[0]));
  return seen;
}

/**
 * POSTs a message to a room over HTTP, as any client does; `token` signs it in. `headers` adds
 * to the request's (e.g. `connection: close` to land on another instance); `timeoutMs` aborts it.
 */
export async function postMessage(baseUrl: string, room: string, body: unknown, token?: string, options: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Response> {
  return fetch(`${baseUrl}/api/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...options.headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
}
