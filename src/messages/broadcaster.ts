import type { RoomEmitter } from '../realtime/room-emitter.js';
import type { MessageEvent, MessageServerEvents } from './events.js';
import type { RoomStats } from './schema.js';

/** The messages feature's events, emitted to a room on every instance (API through its adapter, worker through the emitter). */
export interface Broadcaster {
  message(message: MessageEvent): void;
  stats(stats: RoomStats): void;
}

export function createBroadcaster(emitter: RoomEmitter): Broadcaster {
  const emit = <E extends keyof MessageServerEvents>(room: string, event: E, ...args: Parameters<MessageServerEvents[E]>) => {
    (emitter.to(room).emit as (event: string, ...args: unknown[]) => unknown)(event, ...args);
  };
  return {
    message: (message) => { emit(message.room, 'message', message); },
    stats: (stats) => { emit(stats.room, 'stats', stats); },
  };
}
