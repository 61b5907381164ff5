import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { z } from 'zod';
import { AppError } from '../src/errors/app-error.js';
import { createLogBudget } from '../src/observability/log-budget.js';
import { createSocketEvents } from '../src/realtime/socket-events.js';
import { createRealtime, type Realtime } from '../src/realtime/socket-server.js';
import { connect, emitRaw, type TestSocket } from './helpers/realtime.js';

/**
 * The socket-event registry on a real Socket.IO server with real clients: a handler that
 * throws or rejects is caught, logged with the socket, user and event, and answered; it never
 * reaches the process.
 */

const logs: Record<string, unknown>[] = [];
let server: Server;
let realtime: Realtime;
let url: string;
const sockets: TestSocket[] = [];
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

before(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const sink = new Writable({ write(chunk: Buffer, _e, done) { for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>); done(); } });
  const logger = pino({ level: 'debug' }, sink);
  server = createServer();
  realtime = createRealtime({
    redisAdapter: undefined,
    allowPolling: false,
    corsOrigin: '*',
    maxPayloadBytes: 16_384,
    instanceId: 0,
    authenticate: () => Promise.resolve({ user: 'tester', expiresAt: Date.now() + 3_600_000 }),
    connectionCap: undefined,
    maxPerAddress: 0,
    clientAddress: () => 'unused',
    connectTimeoutMs: 45_000,
    logger,
    logBudget: createLogBudget(logger, 0),
  });
  const events = createSocketEvents(realtime.io, { eventsPerSecond: 100, isProduction: true, logger });
  const contract = { summary: 'a test event', payload: z.object({ n: z.number() }), result: z.object({}) };
  events.on('sync-bug', contract, () => { throw new TypeError('sync detail'); });
  events.on('async-bug', contract, () => Promise.reject(new Error('async detail')));
  events.on('refused', contract, () => { throw new AppError(409, 'NOT_NOW', 'Not now'); });
  events.on('echo', { ...contract, result: z.object({ doubled: z.number() }) }, ({ n }) => ({ doubled: n * 2 }));
  realtime.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  for (const socket of sockets) socket.close();
  await realtime.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

describe('socket event handlers', () => {
  it('answer with their result spread into {ok: true}', async () => {
    const { socket } = await connect(url, 'any');
    sockets.push(socket);
    assert.deepEqual(await emitRaw(socket, 'echo', { n: 21 }), { ok: true, doubled: 42 });
  });

  it('that throw or reject are answered INTERNAL_ERROR (generic in production) and logged with socket, user and event; with no ack, only logged', async () => {
    const { socket } = await connect(url, 'any');
    sockets.push(socket);
    for (const event of ['sync-bug', 'async-bug']) {
      assert.deepEqual(await emitRaw(socket, event, { n: 1 }), { ok: false, error: { code: 'INTERNAL_ERROR', message: 'Internal server error' } });
      (socket as unknown as { emit(e: string, ...a: unknown[]): void }).emit(event, { n: 2 });
    }
    assert.deepEqual(await emitRaw(socket, 'echo', { n: 1 }), { ok: true, doubled: 2 }, 'the connection still works');
    const logged = logs.filter((l) => l.level === 50 && l.event === 'socket-handler-error' && (l.socketEvent === 'sync-bug' || l.socketEvent === 'async-bug'));
    assert.equal(logged.length, 4);
    for (const line of logged) {
      assert.equal(line.socketId, socket.id);
      assert.equal(line.user, 'tester');
      assert.match(JSON.stringify(line.err), /(sync|async) detail/);
    }
    assert.deepEqual(uncaught, [], 'nothing reached the process');
  });

  it('that throw an AppError answer with its code and message, logged at debug only', async () => {
    const { socket } = await connect(url, 'any');
    sockets.push(socket);
    assert.deepEqual(await emitRaw(socket, 'refused', { n: 1 }), { ok: false, error: { code: 'NOT_NOW', message: 'Not now' } });
    assert.equal(logs.filter((l) => l.level === 50 && l.socketEvent === 'refused').length, 0);
  });
});
