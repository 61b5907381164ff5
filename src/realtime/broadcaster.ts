import type { StoredMessage } from '../data/message-repository.js';
import type { RoomStats, ServerToClientEvents } from './events.js';

/**
 * What both a Socket.IO Server (API instances, through its Redis adapter) and a
 * @socket.io/redis-emitter Emitter (the background worker) offer: emit to a room, and every
 * instance delivers to its own clients in that room.
 */
export interface RoomEmitter {
  to(room: string): { emit<E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>): unknown };
}

export interface Broadcaster {
  message(message: StoredMessage): void;
  stats(stats: RoomStats): void;
}

export function createBroadcaster(emitter: RoomEmitter): Broadcaster {
  return {
    message: (message) => emitter.to(message.room).emit('message', message),
    stats: (stats) => emitter.to(stats.room).emit('stats', stats),
  };
}
