import type { Broadcaster } from './broadcaster.js';
import type { MessageOrigin } from './events.js';
import type { MessageRepository } from './repository.js';
import { REPLAY_LIMIT, type StoredMessage } from './schema.js';

/**
 * The rule every way of writing a message follows, whether it arrives over HTTP, a socket or
 * from the worker: store it first, then fan it out, so a client never sees a message that
 * was not saved.
 */
export interface MessageService {
  post(input: { room: string; author: string; body: string }): Promise<StoredMessage>;
  /** Newest first; `before` is the id of the oldest message the caller already has. */
  listLatest(room: string, options: { limit: number; before?: number | undefined }): Promise<StoredMessage[]>;
  /** Oldest first; `after` is the highest id the caller already holds. */
  listAfter(room: string, options: { limit: number; after: number }): Promise<StoredMessage[]>;
  /** What a rejoining client missed: up to REPLAY_LIMIT messages newer than `after`, oldest first, and whether more wait. */
  replay(room: string, after: number): Promise<{ messages: StoredMessage[]; more: boolean }>;
}

export function createMessageService(deps: { repository: MessageRepository; broadcaster: Broadcaster; origin: MessageOrigin }): MessageService {
  return {
    async post(input) {
      const message = await deps.repository.create(input);
      // Through the Redis adapter this reaches the room's clients on every instance, each
      // copy saying which instance took the POST.
      deps.broadcaster.message({ ...message, origin: deps.origin });
      return message;
    },
    listLatest: (room, options) => deps.repository.listLatest(room, options),
    listAfter: (room, options) => deps.repository.listAfter(room, options),
    async replay(room, after) {
      // One more than the bound tells whether more wait, without counting.
      const messages = await deps.repository.listAfter(room, { limit: REPLAY_LIMIT + 1, after });
      return { messages: messages.slice(0, REPLAY_LIMIT), more: messages.length > REPLAY_LIMIT };
    },
  };
}
