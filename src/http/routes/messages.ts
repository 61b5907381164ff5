import { Router } from 'express';
import { z } from 'zod';
import type { TokenService } from '../../auth/jwt.js';
import type { MessageRepository } from '../../data/message-repository.js';
import type { Broadcaster } from '../../realtime/broadcaster.js';
import { roomSchema } from '../../realtime/events.js';
import { requireAuth } from '../require-auth.js';
import { validate } from '../validate.js';

const MAX_BODY = 2000;
const params = z.object({ room: roomSchema });
const postBody = z.object({
  body: z.string({ error: 'must be a string' }).trim().min(1, { error: 'must not be empty' }).max(MAX_BODY, { error: `must be at most ${MAX_BODY} characters` }),
});
const listQuery = z.object({
  limit: z.coerce.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(1, { error: 'must be 1 to 100' }).max(100, { error: 'must be 1 to 100' }).default(20),
  before: z.coerce.number({ error: 'must be a message id' }).int({ error: 'must be a message id' }).positive({ error: 'must be a message id' }).optional(),
});

export function messageRoutes(deps: { messages: MessageRepository; broadcaster: Broadcaster; tokens: TokenService }): Router {
  const router = Router();

  router.post('/api/rooms/:room/messages', requireAuth(deps.tokens), async (req, res) => {
    const { room } = validate(params, req.params, 'params');
    const { body } = validate(postBody, req.body ?? {}, 'body');
    const message = await deps.messages.create({ room, author: req.user ?? '', body });
    // Through the Redis adapter this reaches the room's clients on every instance.
    deps.broadcaster.message(message);
    res.status(201).json(message);
  });

  router.get('/api/rooms/:room/messages', async (req, res) => {
    const { room } = validate(params, req.params, 'params');
    const { limit, before } = validate(listQuery, req.query, 'query');
    const messages = await deps.messages.listLatest(room, { limit, before });
    const last = messages.at(-1);
    res.json({ messages, nextCursor: messages.length === limit && last ? last.id : null });
  });

  return router;
}
