import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import type { StoredMessage } from '../src/messages/schema.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { collect, connect, join, type TestSocket, postMessage } from './helpers/realtime.js';
import { createTestDatabase, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);

let db: TestDatabase;
let api: TestApi;
let token: string;
const sockets: TestSocket[] = [];
before(async () => {
  db = await createTestDatabase({ migrated: true });
  api = await startTestApi(db.url);
  token = await tokens.sign('alice');
});
after(async () => {
  for (const socket of sockets) socket.close();
  await api.stop();
  await db.drop();
});

async function post(room: string, body: unknown, auth?: string): Promise<Response> {
  return postMessage(api.url, room, body, auth);
}

async function errorOf(res: Response) {
  return ((await res.json()) as { error: { code: string; message: string; details?: { field: string }[] } }).error;
}

describe('writing a message', () => {
  it('stores it with the token\'s user as author and answers 201 with it', async () => {
    const res = await post('lobby', { body: '  hello  ' }, token);
    assert.equal(res.status, 201);
    const stored = (await res.json()) as StoredMessage;
    assert.deepEqual({ room: stored.room, author: stored.author, body: stored.body }, { room: 'lobby', author: 'alice', body: 'hello' });
    assert.ok(Number.isInteger(stored.id));
    const listed = (await (await fetch(`${api.url}/api/rooms/lobby/messages?limit=1`)).json()) as { messages: StoredMessage[] };
    assert.deepEqual(listed.messages, [stored]);
  });

  it('fans it out to the room\'s sockets after storing it, and not to another room\'s', async () => {
    const member = await connect(api.url, token);
    const outsider = await connect(api.url, token);
    sockets.push(member.socket, outsider.socket);
    await join(member.socket, 'fanout');
    await join(outsider.socket, 'elsewhere');
    const seen = collect(member.socket, 'message');
    const seenOutside = collect(outsider.socket, 'message');
    const stored = (await (await post('fanout', { body: 'to the room' }, token)).json()) as StoredMessage;
    await waitFor('the member to receive the message', () => seen.length > 0, 5000, 20);
    assert.deepEqual(seen, [{ ...stored, origin: { instanceId: 0, pid: process.pid, host: hostname() } }]);
    assert.deepEqual(seenOutside, []);
  });

  it('without a token, with a malformed one, or one signed with another secret, is 401 UNAUTHORIZED', async () => {
    const anonymous = await post('lobby', { body: 'hi' });
    assert.equal(anonymous.status, 401);
    assert.equal((await errorOf(anonymous)).code, 'UNAUTHORIZED');
    assert.equal((await post('lobby', { body: 'hi' }, 'not-a-jwt')).status, 401);
    assert.equal((await post('lobby', { body: 'hi' }, await createTokenService('another-secret-entirely-0000').sign('mallory'))).status, 401);
  });

  it('to a bad room name is 400 VALIDATION_FAILED naming params.room', async () => {
    const res = await post('bad%20room!', { body: 'hi' }, token);
    assert.equal(res.status, 400);
    const error = await errorOf(res);
    assert.equal(error.code, 'VALIDATION_FAILED');
    assert.deepEqual(error.details?.map((d) => d.field), ['params.room']);
    assert.match(error.message, /params\.room/);
  });

  it('with an empty body is 400 naming body.body', async () => {
    const res = await post('lobby', { body: '   ' }, token);
    assert.equal(res.status, 400);
    assert.deepEqual((await errorOf(res)).details?.map((d) => d.field), ['body.body']);
  });
});

describe('reading a room', () => {
  it('pages newest first with a cursor', async () => {
    for (const body of ['one', 'two', 'three']) assert.equal((await post('paged', { body }, token)).status, 201);
    const first = (await (await fetch(`${api.url}/api/rooms/paged/messages?limit=2`)).json()) as { messages: StoredMessage[]; nextCursor: number | null };
    assert.deepEqual(first.messages.map((m) => m.body), ['three', 'two']);
    assert.ok(first.nextCursor);
    const rest = (await (await fetch(`${api.url}/api/rooms/paged/messages?limit=2&before=${first.nextCursor}`)).json()) as { messages: StoredMessage[]; nextCursor: number | null };
    assert.deepEqual(rest.messages.map((m) => m.body), ['one']);
    assert.equal(rest.nextCursor, null);
  });

  it('refuses a limit over 100 with 400', async () => {
    const res = await fetch(`${api.url}/api/rooms/lobby/messages?limit=1000`);
    assert.equal(res.status, 400);
    assert.deepEqual((await errorOf(res)).details?.map((d) => d.field), ['query.limit']);
  });
});
