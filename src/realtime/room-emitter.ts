/**
 * What both a Socket.IO Server (API instances, through its Redis adapter) and a
 * @socket.io/redis-emitter Emitter (the background worker) offer: emit to a room, and every
 * instance delivers to its own clients in that room. Features type their events on top.
 */
export interface RoomEmitter {
  to(room: string): { emit(event: string, ...args: never[]): unknown };
}
