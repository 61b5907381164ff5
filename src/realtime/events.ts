import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { z } from 'zod';
import type { StoredMessage } from '../data/message-repository.js';

/** The Socket.IO contract, so any client can be written against it (see docs/realtime.md). */

export const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/i;
export const roomSchema = z.string().regex(ROOM_NAME, { error: 'must be 1-64 letters, digits, _ or -, starting with a letter or digit' });

export interface Hello {
  instanceId: number;
  pid: number;
  user: string;
}

export interface RoomStats {
  room: string;
  /** Messages posted to the room during the window. */
  messages: number;
  windowMs: number;
  at: string;
}

export type Ack = (result: { ok: true } | { ok: false; error: string }) => void;

export interface ServerToClientEvents {
  hello: (hello: Hello) => void;
  message: (message: StoredMessage) => void;
  stats: (stats: RoomStats) => void;
}

export interface ClientToServerEvents {
  join: (payload: { room: string }, ack: Ack) => void;
  leave: (payload: { room: string }, ack: Ack) => void;
}

export interface SocketData {
  user: string;
}

/** Between API instances, over the Redis adapter (observability/cluster-metrics.ts). */
export interface InterServerEvents {
  'metrics:collect': (host: string, ack: (metrics: MetricObjectWithValues<MetricValue<string>>[]) => void) => void;
}
