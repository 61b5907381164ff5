import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import type { JoinResult, MessageEvent } from '../src/messages/events.js';
import type { StoredMessage } from '../src/messages/schema.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { collect, connect, type TestSocket, postMessage } from './helpers/realtime.js';
import { createTestDatabase, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

/** Catching up after a disconnect: `after` over HTTP, and `join` with `after` over Socket.IO. */

const tokens = createTokenService(TEST_JWT_SECRET);

let db: TestDatabase;
let api: TestApi;
let token: string;
const sockets: TestSocket[] = [];
before(async () => {
  db = await createTestDatabase({ migrated: true });
  // Paging needs more than 100 messages from one user, over the default per-user write limit.
  api = await startTestApi(db.url, { WRITE_RATE_LIMIT: '0' });
  token = await tokens.sign('alice');
});
after(async () => {
  for (const socket of sockets) socket.close();
  await api.stop();
  await db.drop();
});

async function post(room: string, body: string): Promise<StoredMessage> {
  const res = await postMessage(api.url, room, { body }, token);
  assert.equal(res.status, 201);
  return (await res.json()) as StoredMessage;
}

async function postMany(room: string, count: number): Promise<StoredMessage[]> {
  const stored: StoredMessage[] = [];
  for (let i = 0; i < count; i += 1) stored.push(await post(room, `m${i}`));
  return stored;
}

async function page(path: string) {
  const res = await fetch(`${api.url}${path}`);
  return { status: res.status, body: (await res.json()) as { messages: StoredMessage[]; nextCursor: number | null; error?: { code: string; details?: { field: string }[] } } };
}

async function joinWith(socket: TestSocket, payload: unknown): Promise<JoinResult> {
  return (await socket.timeout(5000).emitWithAck('join', payload as { room: string })) as JoinResult;
}

describe('GET /api/rooms/:room/messages?after=', () => {
  it('returns the messages newer than `after`, oldest first, with a cursor for the next page', async () => {
    const [first, ...rest] = await postMany('after-paging', 5);
    await post('after-paging-other', 'not this room');
    const one = await page(`/api/rooms/after-paging/messages?after=${first?.id}&limit=3`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.messages, rest.slice(0, 3));
    assert.equal(one.body.nextCursor, rest[2]?.id);
    const two = await page(`/api/rooms/after-paging/messages?after=${one.body.nextCursor}&limit=3`);
    assert.deepEqual(two.body.messages, rest.slice(3));
    assert.equal(two.body.nextCursor, null);
    assert.deepEqual((await page('/api/rooms/after-paging/messages?after=0&limit=100')).body.messages, [first, ...rest]);
  });

  it('refuses `after` together with `before` with a 400 naming query.after', async () => {
    const res = await page('/api/rooms/lobby/messages?after=1&before=5');
    assert.equal(res.status, 400);
    assert.equal(res.body.error?.code, 'VALIDATION_FAILED');
    assert.deepEqual(res.body.error.details?.map((d) => d.field), ['query.after']);
  });

  it('refuses a negative or non-integer `after` with a 400', async () => {
    for (const bad of ['-1', '1.5', 'abc']) assert.equal((await page(`/api/rooms/lobby/messages?after=${bad}`)).status, 400, bad);
  });
});

describe('socket join with `after`', () => {
  it('replays the stored messages newer than `after`, in id order and before the ack, without an origin', async () => {
    const [seen, ...missed] = await postMany('replay', 4);
    const client = await connect(api.url, token);
    sockets.push(client.socket);
    const received = collect(client.socket, 'message');
    const ack = await joinWith(client.socket, { room: 'replay', after: seen?.id });
    assert.deepEqual(ack, { ok: true, replayed: 3, more: false });
    // Emitted before the ack on the same connection, so already here.
    assert.deepEqual(received, missed);
  });

  it('then delivers live messages, each with the instance that took the POST', async () => {
    const client = await connect(api.url, token);
    sockets.push(client.socket);
    const received = collect(client.socket, 'message');
    assert.deepEqual(await joinWith(client.socket, { room: 'replay-live', after: 0 }), { ok: true, replayed: 0, more: false });
    const stored = await post('replay-live', 'live one');
    await waitFor('the live message', () => received.length > 0, 5000, 20);
    assert.deepEqual(received, [{ ...stored, origin: { instanceId: 0, pid: process.pid, host: hostname() } } satisfies MessageEvent]);
  });

  it('replays at most 100 and says more wait, with the cursor to page the rest over HTTP', async () => {
    const stored = await postMany('replay-bound', 103);
    const client = await connect(api.url, token);
    sockets.push(client.socket);
    const received = collect(client.socket, 'message');
    const ack = await joinWith(client.socket, { room: 'replay-bound', after: 0 });
    assert.deepEqual(ack, { ok: true, replayed: 100, more: true, nextCursor: stored[99]?.id });
    assert.deepEqual(received.map((m) => m.id), stored.slice(0, 100).map((m) => m.id));
    const rest = await page(`/api/rooms/replay-bound/messages?after=${stored[99]?.id}&limit=100`);
    assert.deepEqual(rest.body.messages, stored.slice(100));
  });

  it('without `after` joins live only, replaying nothing', async () => {
    await post('no-after', 'old');
    const client = await connect(api.url, token);
    sockets.push(client.socket);
    const received = collect(client.socket, 'message');
    assert.deepEqual(await joinWith(client.socket, { room: 'no-after' }), { ok: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(received, []);
  });

  it('refuses a bad `after` with an error naming it, and joins nothing', async () => {
    const client = await connect(api.url, token);
    sockets.push(client.socket);
    for (const after of [-1, 1.5, '7']) {
      const ack = await joinWith(client.socket, { room: 'bad-after', after });
      assert.ok(!ack.ok, String(after));
      assert.deepEqual(ack.error.details?.map((d) => d.field), ['after']);
      assert.match(ack.error.message, /after must be a message id or 0/);
    }
  });
});
