import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, Hello, ServerToClientEvents } from '../../src/realtime/events.js';

export type TestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

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

/** One connected client per distinct instance pid (round-robin spreads new connections). */
export async function connectToDistinctInstances(baseUrl: string, token: string, count: number): Promise<{ socket: TestSocket; hello: Hello }[]> {
  const byPid = new Map<number, { socket: TestSocket; hello: Hello }>();
  for (let attempt = 0; attempt < count * 10 && byPid.size < count; attempt += 1) {
    const client = await connect(baseUrl, token);
    if (byPid.has(client.hello.pid)) client.socket.close();
    else byPid.set(client.hello.pid, client);
  }
  if (byPid.size < count) throw new Error(`reached only ${byPid.size} distinct instances`);
  return [...byPid.values()];
}

export async function join(socket: TestSocket, room: string): Promise<{ ok: boolean; error?: string }> {
  return (await socket.timeout(5000).emitWithAck('join', { room })) as { ok: boolean; error?: string };
}

/** Records every event of a kind a socket receives. */
export function collect<E extends keyof ServerToClientEvents>(socket: TestSocket, event: E): Parameters<ServerToClientEvents[E]>[0][] {
  const seen: Parameters<ServerToClientEvents[E]>[0][] = [];
  (socket as unknown as { on(e: string, l: (v: unknown) => void): void }).on(event, (value) => seen.push(value as Parameters<ServerToClientEvents[E]>[0]));
  return seen;
}
