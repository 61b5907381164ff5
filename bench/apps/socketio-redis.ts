/**
 * Reference: the minimal Socket.IO + Redis adapter recipe from the Socket.IO docs, with the
 * same client protocol as the app (`join` with an ack, `message` events, POST to a room), no
 * auth, no database. Fan-out latency of the app is compared against this one.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import express from 'express';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const app = express();
const server = createServer(app);
const io = new Server(server, { transports: ['websocket'], adapter: createAdapter(pub, sub, { key: `${process.env.REDIS_KEY_PREFIX ?? 'bench:'}socket.io` }) });

app.use(express.json());
app.get('/health', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/api/rooms/:room/messages', (req, res) => {
  const message = { room: req.params.room, body: String((req.body as { body?: unknown }).body), createdAt: new Date().toISOString() };
  io.to(req.params.room).emit('message', message);
  res.status(201).json(message);
});
io.on('connection', (socket) => {
  socket.on('join', ({ room }: { room: string }, ack: (result: { ok: boolean }) => void) => {
    void socket.join(room);
    ack({ ok: true });
  });
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
