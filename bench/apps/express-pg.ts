/**
 * Reference: Express 5 + pg (+ a Redis publish), no middleware, doing what the app's message
 * routes do at their floor: the read is the SELECT Prisma sends for
 * GET /api/rooms/:room/messages?limit=20, answered as the same JSON; the write is the same
 * INSERT … RETURNING, then the same Socket.IO room event published to Redis (the redis-emitter
 * writes what the app's Redis adapter writes), answered 201. No auth, no validation, no logs:
 * what the database path itself costs.
 */
import { Emitter } from '@socket.io/redis-emitter';
import express from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';

interface Row { id: number; room: string; author: string; body: string; created_at: Date }
const toMessage = (r: Row) => ({ id: r.id, room: r.room, author: r.author, body: r.body, createdAt: r.created_at.toISOString() });

// The app's pool per instance with the default budget, floor((20 − the worker's 1) / 2 instances),
// and its idle timeout (src/data/database.ts): both reconnect after the same pauses.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.PG_POOL_MAX ?? 9), idleTimeoutMillis: 30_000 });
const emitter = new Emitter(new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'), { key: `${process.env.REDIS_KEY_PREFIX ?? 'bench:'}socket.io` });
const app = express();
app.use(express.json());
app.get('/health', (_req, res) => { res.json({ status: 'ok' }); });
app.get('/api/rooms/:room/messages', async (req, res) => {
  const limit = Number(req.query.limit ?? 50);
  const { rows } = await pool.query<Row>('SELECT "id", "room", "author", "body", "created_at" FROM "messages" WHERE "room" = $1 ORDER BY "id" DESC LIMIT $2 OFFSET $3', [req.params.room, limit, 0]);
  const messages = rows.map(toMessage);
  res.json({ messages, nextCursor: messages.length === limit ? (messages.at(-1)?.id ?? null) : null });
});
app.post('/api/rooms/:room/messages', async (req, res) => {
  const { rows } = await pool.query<Row>('INSERT INTO "messages" ("room", "author", "body") VALUES ($1, $2, $3) RETURNING "id", "room", "author", "body", "created_at"', [req.params.room, 'bench-writer', String((req.body as { body?: unknown }).body)]);
  const message = toMessage(rows[0] as Row);
  emitter.to(req.params.room).emit('message', message);
  res.status(201).json(message);
});
const server = app.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
server.keepAliveTimeout = 5000;
