import type { EventAck } from '../realtime/socket-events.js';
import type { RoomStats, StoredMessage } from './schema.js';

/** The Socket.IO events of the messages feature, so any client can be written against them (docs/realtime.md). */

export type Ack = (result: EventAck) => void;

/** The instance that took the POST of a live message. Added on fan-out, never stored. */
export interface MessageOrigin {
  instanceId: number;
  pid: number;
  host: string;
}

/** A `message` event: live ones carry their origin; replayed ones (a join with `after`) do not. */
export type MessageEvent = StoredMessage & { origin?: MessageOrigin };

/** A join's answer: with `after`, how many stored messages were replayed before it, and whether more wait (page them over HTTP from `nextCursor`). */
export type JoinResult = EventAck<{ replayed?: number; more?: boolean; nextCursor?: number }>;

export interface MessageServerEvents {
  message: (message: MessageEvent) => void;
  stats: (stats: RoomStats) => void;
}

export interface MessageClientEvents {
  join: (payload: { room: string; after?: number }, ack: (result: JoinResult) => void) => void;
  leave: (payload: { room: string }, ack: Ack) => void;
}
