import { AppError } from '../errors/app-error.js';
import type { SocketEvents } from '../realtime/socket-events.js';
import { joinPayload, joinResult, leaveResult, roomPayload } from './schema.js';
import type { GapState } from './resync.js';
import type { MessageService } from './service.js';

const MAX_ROOMS_PER_SOCKET = 50;

const join = {
  summary: 'Receive a room\'s messages from now on. With `after` (the highest message id the client holds, or 0), first replay what it missed, up to 100 messages, as `message` events before the acknowledgement.',
  payload: joinPayload,
  result: joinResult,
};
const leave = { summary: 'Stop receiving a room\'s messages.', payload: roomPayload, result: leaveResult };

/**
 * join/leave: a socket receives a room's messages while it is in the room. A join with
 * `after` also catches up (docs/realtime.md): the socket joins first, so a message stored
 * while the history is read arrives live as well, and the client drops the id it already has.
 * While this instance's fan-out has a gap, the ack says so (`gap`): the replay is whole, the
 * live messages after it may not be.
 */
export function registerMessageHandlers(events: SocketEvents, deps: { messages: MessageService; gaps: GapState }): void {
  events.on('join', join, async ({ room, after }, { socket }) => {
    // socket.rooms includes the socket's own id room.
    if (!socket.rooms.has(room) && socket.rooms.size > MAX_ROOMS_PER_SOCKET) {
      throw new AppError(409, 'TOO_MANY_ROOMS', `At most ${MAX_ROOMS_PER_SOCKET} rooms per connection; leave one first`);
    }
    await socket.join(room);
    let replay: Awaited<ReturnType<MessageService['replay']>> | undefined;
    let gapAfter: number | undefined;
    try {
      if (after !== undefined) replay = await deps.messages.replay(room, after);
      gapAfter = await deps.gaps.openGapAfter(room);
    } catch (error) {
      // Not in the room without its history: the client retries the join.
      await socket.leave(room);
      throw error;
    }
    const gap = gapAfter === undefined ? {} : { gap: { after: gapAfter } };
    if (!replay) return gap;
    for (const message of replay.messages) socket.emit('message', message);
    const last = replay.messages.at(-1);
    return replay.more && last ? { replayed: replay.messages.length, more: true, nextCursor: last.id, ...gap } : { replayed: replay.messages.length, more: false, ...gap };
  });

  events.on('leave', leave, async ({ room }, { socket }) => {
    await socket.leave(room);
    return {};
  });
}
