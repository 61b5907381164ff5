import { Router, type RequestHandler } from 'express';
import { requireAuth } from '../auth/require-auth.js';
import type { TokenService } from '../auth/jwt.js';
import { validate } from '../http/validate.js';
import { listQuery, postBody, roomParams } from './schema.js';
import type { MessageService } from './service.js';

/** `writeLimit` runs after authentication, so it can count per user (WRITE_RATE_LIMIT). */
export function messageRoutes(deps: { messages: MessageService; tokens: TokenService; writeLimit?: RequestHandler | undefined }): Router {
  const router = Router();
  const passThrough: RequestHandler = (_req, _res, next) => { next(); };

  router.post('/api/rooms/:room/messages', requireAuth(deps.tokens), deps.writeLimit ?? passThrough, async (req, res) => {
    const { room } = validate(roomParams, req.params, 'params');
    const { body } = validate(postBody, req.body ?? {}, 'body');
    res.status(201).json(await deps.messages.post({ room, author: req.user ?? '', body }));
  });

  router.get('/api/rooms/:room/messages', async (req, res) => {
    const { room } = validate(roomParams, req.params, 'params');
    const { limit, before, after } = validate(listQuery, req.query, 'query');
    // `after`: oldest first, for catching up; otherwise newest first, for scrolling back.
    const messages = after !== undefined ? await deps.messages.listAfter(room, { limit, after }) : await deps.messages.listLatest(room, { limit, before });
    const last = messages.at(-1);
    res.json({ messages, nextCursor: messages.length === limit && last ? last.id : null });
  });

  return router;
}
