import { Router, type RequestHandler } from 'express';
import type { z } from 'zod';
import { requireAuth } from '../auth/require-auth.js';
import type { TokenService } from '../auth/jwt.js';
import type { RouteContract, RoutesWithContract } from '../http/contract.js';
import { validate } from '../http/validate.js';
import { listQuery, messagePage, postBody, roomParams, storedMessage } from './schema.js';
import type { MessageService } from './service.js';

export const messageContract: RouteContract[] = [
  {
    method: 'post',
    path: '/api/rooms/:room/messages',
    tag: 'messages',
    summary: 'Post a message to a room: stored, then emitted to the room on every instance as a `message` event',
    description: 'The author is the token\'s subject. Counted against WRITE_RATE_LIMIT per user.',
    auth: true,
    request: { params: roomParams, body: postBody },
    responses: { 201: { description: 'The stored message', schema: storedMessage } },
    errors: { 400: 'Invalid room or body (`VALIDATION_FAILED`, `INVALID_JSON`, ...)', 401: 'Missing, malformed or expired token', 429: 'Over WRITE_RATE_LIMIT (see `Retry-After`)' },
  },
  {
    method: 'get',
    path: '/api/rooms/:room/messages',
    tag: 'messages',
    summary: 'A page of a room\'s messages: newest first, or with `after` oldest first (catching up)',
    request: { params: roomParams, query: listQuery },
    responses: { 200: { description: 'A page of messages', schema: messagePage } },
    errors: { 400: 'Invalid room, limit or cursor; `after` with `before`' },
  },
];

/** `writeLimit` runs after authentication, so it can count per user (WRITE_RATE_LIMIT). */
export function messageRoutes(deps: { messages: MessageService; tokens: TokenService; writeLimit?: RequestHandler | undefined }): RoutesWithContract {
  const router = Router();
  const passThrough: RequestHandler = (_req, _res, next) => { next(); };

  router.post('/api/rooms/:room/messages', requireAuth(deps.tokens), deps.writeLimit ?? passThrough, async (req, res) => {
    const { room } = validate(roomParams, req.params, 'params');
    const { body } = validate(postBody, req.body ?? {}, 'body');
    const stored: z.infer<typeof storedMessage> = await deps.messages.post({ room, author: req.user ?? '', body });
    res.status(201).json(stored);
  });

  router.get('/api/rooms/:room/messages', async (req, res) => {
    const { room } = validate(roomParams, req.params, 'params');
    const { limit, before, after } = validate(listQuery, req.query, 'query');
    // `after`: oldest first, for catching up; otherwise newest first, for scrolling back.
    const messages = after !== undefined ? await deps.messages.listAfter(room, { limit, after }) : await deps.messages.listLatest(room, { limit, before });
    const last = messages.at(-1);
    const page: z.infer<typeof messagePage> = { messages, nextCursor: messages.length === limit && last ? last.id : null };
    res.json(page);
  });

  return { router, contract: messageContract };
}
