import { z } from 'zod';

/**
 * What a message is, and what a client may send about one. HTTP routes, socket handlers and
 * token claims all take their rules from here, and the rules mirror the columns
 * (prisma/schema.prisma), so nothing a client sends reaches PostgreSQL unchecked: ids fit
 * `int4`, text has no NUL (PostgreSQL refuses it) and no unpaired surrogate (it would be
 * stored as U+FFFD, silently), and lengths are counted as PostgreSQL counts them (characters).
 */

// No flags: JSON Schema's `pattern` (in /openapi.json) has none, so the document states the same rule.
export const ROOM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const MAX_BODY = 2000;
/** messages.author is VARCHAR(128); the author is the token's subject. */
export const MAX_AUTHOR = 128;
/** messages.id is SERIAL (int4). */
export const MAX_MESSAGE_ID = 2_147_483_647;

/** "is required" when absent, "must be <type>" when present but of the wrong type, as in every answer. */
function typeError(expected: string) {
  return { error: (issue: { input: unknown }) => (issue.input === undefined ? 'is required' : `must be ${expected}`) };
}

// With the u flag a surrogate pair is one code point, so this matches unpaired halves only.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
// What renders as nothing: whitespace, control characters, and the characters Unicode says to
// ignore in display (zero-width space/joiners, BOM, soft hyphen, Hangul fillers, variation
// selectors...), plus the braille blank, a common "invisible" filler.
const INVISIBLE = /[\p{White_Space}\p{Cc}\p{Default_Ignorable_Code_Point}\u2800]/gu;

// Code points, as PostgreSQL counts VARCHAR(n) in a UTF-8 database (not UTF-16 units, not graphemes).
// eslint-disable-next-line @typescript-eslint/no-misused-spread
const characters = (value: string) => [...value].length;

/** A text column's rules; `trim` for what people type, not for identifiers. */
function text(options: { max: number; trim: boolean }) {
  const base = z.string(typeError('a string'));
  return (options.trim ? base.trim() : base)
    .refine((s) => !s.includes('\u0000'), { error: 'must not contain NUL (\\u0000) characters' })
    .refine((s) => !LONE_SURROGATE.test(s), { error: 'must be valid Unicode (it contains an unpaired surrogate)' })
    .refine((s) => s.replace(INVISIBLE, '').length > 0, { error: 'must not be empty' })
    .refine((s) => characters(s) <= options.max, { error: `must be at most ${options.max} characters` });
}

export const roomSchema = z.string(typeError('a string')).regex(ROOM_NAME, { error: 'must be 1-64 letters, digits, _ or -, starting with a letter or digit' });

/** The token's `sub`, which becomes messages.author. */
export const authorSchema = text({ max: MAX_AUTHOR, trim: false });

export const messageBody = text({ max: MAX_BODY, trim: true });

/** A positive decimal integer in a query string, within `max`. */
function queryInteger(min: number, max: number, what: string) {
  const error = `must be ${what} from ${min} to ${max}`;
  return z
    .string({ error })
    .regex(/^\d{1,16}$/, { error })
    .transform(Number)
    .pipe(z.number().min(min, { error }).max(max, { error }));
}

export const roomParams = z.object({ room: roomSchema });

export const postBody = z.object({ body: messageBody }, { error: 'must be a JSON object such as {"body": "hello"}' });

export const listQuery = z
  .object({
    limit: queryInteger(1, 100, 'an integer').default(20).meta({ description: 'Page size, 1-100 (default 20)' }),
    before: queryInteger(1, MAX_MESSAGE_ID, 'a message id').optional().meta({ description: 'Newest first, older than this id: the `nextCursor` of the previous page' }),
    // Catch-up: messages newer than this id, oldest first (0: from the start).
    after: queryInteger(0, MAX_MESSAGE_ID, 'a message id or 0').optional().meta({ description: 'Catching up: newer than this id (0: from the start), oldest first; not with `before`' }),
  })
  .refine((query) => query.before === undefined || query.after === undefined, { error: 'cannot be combined with before: page one way at a time', path: ['after'] });

// --- Catch-up after a reconnect (docs/realtime.md) ---

/** At most this many stored messages are replayed on a join; the ack says when there are more. */
export const REPLAY_LIMIT = 100;

/** Socket `join`: the room, and optionally the highest message id the client already holds. */
export const joinPayload = z.object(
  {
    room: roomSchema,
    after: z
      .number(typeError('a message id or 0'))
      .int({ error: `must be a message id or 0 (an integer from 0 to ${MAX_MESSAGE_ID})` })
      .min(0, { error: `must be a message id or 0 (an integer from 0 to ${MAX_MESSAGE_ID})` })
      .max(MAX_MESSAGE_ID, { error: `must be a message id or 0 (an integer from 0 to ${MAX_MESSAGE_ID})` })
      .optional(),
  },
  { error: 'must be an object such as {"room": "lobby", "after": 42}' },
);

/** Socket.IO `join` / `leave`. */
export const roomPayload = z.object({ room: roomSchema }, { error: 'must be an object such as {"room": "lobby"}' });

/** A join's acknowledgement: with `after`, how many stored messages were replayed before it, and whether more wait (page them over HTTP from `nextCursor`). */
/** Where delivery was last whole before the fan-out gap open on the answering instance. */
const gapPoint = z.number().int().min(0).meta({ description: 'Every message up to this id was stored before the fan-out gap opened; newer ones may not have been delivered' });

export const joinResult = z.object({
  replayed: z.number().int().min(0).optional(),
  more: z.boolean().optional(),
  nextCursor: z.number().int().optional(),
  gap: z
    .object({ after: gapPoint })
    .optional()
    .meta({ description: 'Present while the answering instance\'s fan-out may be missing messages (Redis unreachable): what was replayed is whole, live messages may not be until a `resync` comes' }),
});

export const leaveResult = z.object({});

// --- What the server answers and emits (typed by these, and documented from them in /openapi.json) ---

export const storedMessage = z.object({
  id: z.number().int().min(1).max(MAX_MESSAGE_ID),
  room: z.string(),
  author: z.string().meta({ description: 'The poster\'s token subject' }),
  body: z.string(),
  createdAt: z.iso.datetime(),
});
export type StoredMessage = z.infer<typeof storedMessage>;

export const messagePage = z.object({
  messages: z.array(storedMessage),
  nextCursor: z.number().int().nullable().meta({ description: 'Pass as `before` (or `after` when catching up) for the next page; null when this page was the last' }),
});

/** The instance that took the POST of a live message. Added on fan-out, never stored. */
export const messageOrigin = z.object({ instanceId: z.number().int(), pid: z.number().int(), host: z.string() });

/** A `message` event: live ones carry their origin; replayed ones (a join with `after`) do not. */
export const messageEvent = storedMessage.extend({ origin: messageOrigin.optional() });

/** A `resync` event: the room's fan-out may have lost messages newer than `after`; rejoin with at most that `after`. */
export const resyncEvent = z.object({ room: z.string(), after: gapPoint });

/** A `gap` event: this instance's fan-out may be losing messages from now on; a `resync` follows once it is whole again. */
export const gapEvent = z.object({
  room: z.string(),
  after: gapPoint.optional().meta({ description: 'Absent when the database could not say either' }),
});

export const roomStats = z.object({
  room: z.string(),
  messages: z.number().int().min(0).meta({ description: 'Messages posted to the room during the window' }),
  windowMs: z.number().int().meta({ description: 'Length of the window, which ends at `at` and starts where the previous report ended: a message is counted in exactly one report' }),
  at: z.iso.datetime(),
});
export type RoomStats = z.infer<typeof roomStats>;

export interface RoomActivity {
  room: string;
  messages: number;
}
