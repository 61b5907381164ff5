import type { z } from 'zod';
import type { EventAck } from '../realtime/socket-events.js';
import type { ServerEventContract } from '../realtime/socket-server.js';
import { gapEvent, messageEvent, resyncEvent, roomStats, type joinResult, type messageOrigin, type RoomStats } from './schema.js';

/** The Socket.IO events of the messages feature, so any client can be written against them (docs/realtime.md). */

export type Ack = (result: EventAck) => void;

export type MessageOrigin = z.infer<typeof messageOrigin>;
export type MessageEvent = z.infer<typeof messageEvent>;
export type ResyncEvent = z.infer<typeof resyncEvent>;
export type GapEvent = z.infer<typeof gapEvent>;
export type JoinResult = EventAck<z.infer<typeof joinResult>>;

export interface MessageServerEvents {
  message: (message: MessageEvent) => void;
  stats: (stats: RoomStats) => void;
  resync: (resync: ResyncEvent) => void;
  gap: (gap: GapEvent) => void;
}

export interface MessageClientEvents {
  join: (payload: { room: string; after?: number }, ack: (result: JoinResult) => void) => void;
  leave: (payload: { room: string }, ack: Ack) => void;
}

/** What a room's members receive, for /openapi.json's `x-socket-events`. */
export const messageServerEvents: Record<keyof MessageServerEvents, ServerEventContract> = {
  message: {
    summary: 'A message in a room the client joined: live ones (from any instance) carry `origin`; those replayed by a join with `after` do not.',
    payload: messageEvent,
  },
  resync: {
    summary: 'This instance\'s fan-out may have missed messages (Redis was unreachable or a publish failed): rejoin the room with `after` at most this event\'s `after`, and drop ids already held.',
    payload: resyncEvent,
  },
  gap: {
    summary: 'This instance\'s fan-out may be losing messages from now on (Redis unreachable, a publish failed): live messages no longer prove the room whole past `after`. A `resync` follows once fan-out is whole again; a client that reconnects meanwhile rejoins with at most `after`.',
    payload: gapEvent,
  },
  stats: { summary: 'Room activity from the background worker: messages posted to the room in the last window.', payload: roomStats },
};
