import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { createTokenService } from '../src/auth/jwt.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { collect, connect, join, type TestSocket, postMessage } from './helpers/realtime.js';
import { createTestDatabase, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);

let db: TestDatabase;
let api: TestApi;
const sockets: TestSocket[] = [];
before(async () => {
  db = await createTestDatabase({ migrated: true });
  api = await startTestApi(db.url);
});
after(async () => {
  for (const socket of sockets) socket.close();
  await api.stop();
  await db.drop();
});

describe('Socket.IO connections', () => {
  it('greet an authenticated client with the instance and pid that serve it', async () => {
    const client = await connect(api.url, await tokens.sign('carol'));
    sockets.push(client.socket);
    assert.deepEqual(client.hello, { instanceId: 0, pid: process.pid, user: 'carol' });
  });

  it('are refused without a token, or with a bad one, naming the problem', async () => {
    await assert.rejects(connect(api.url, undefined), /Missing bearer token/);
    await assert.rejects(connect(api.url, 'garbage'), /Invalid or expired token/);
  });

  it('are refused over HTTP long-polling unless it is enabled, with a clear message', async () => {
    const polling = await fetch(`${api.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(polling.status, 403);
    assert.match(await polling.text(), /long-polling is disabled/);
  });

  it('with SOCKET_ALLOW_POLLING=true, work over HTTP long-polling alone: hello, join, and a posted message', async () => {
    const polling = await startTestApi(db.url, { SOCKET_ALLOW_POLLING: 'true' });
    const token = await tokens.sign('erin');
    const socket: TestSocket = io(polling.url, { transports: ['polling'], upgrade: false, auth: { token }, forceNew: true, reconnection: false });
    try {
      const hello = await new Promise((resolve, reject) => {
        socket.once('hello', resolve);
        socket.once('connect_error', reject);
      });
      assert.deepEqual(hello, { instanceId: 0, pid: process.pid, user: 'erin' });
      assert.equal(socket.io.engine.transport.name, 'polling');
      assert.deepEqual(await join(socket, 'polled'), { ok: true });
      const seen = collect(socket, 'message');
      const res = await postMessage(polling.url, 'polled', { body: 'over polling' }, token);
      assert.equal(res.status, 201);
      await waitFor('the message over polling', () => seen.some((m) => m.body === 'over polling'), 5000, 50);
      assert.equal(socket.io.engine.transport.name, 'polling', 'never upgraded');
    } finally {
      socket.close();
      await polling.stop();
    }
  });
});

describe('joining and leaving rooms', () => {
  it('acknowledges a valid room and refuses a bad name with a room error', async () => {
    const client = await connect(api.url, await tokens.sign('dave'));
    sockets.push(client.socket);
    assert.deepEqual(await join(client.socket, 'lobby'), { ok: true });
    assert.deepEqual(await client.socket.timeout(5000).emitWithAck('leave', { room: 'lobby' }), { ok: true });
    assert.deepEqual(await join(client.socket, '../etc'), {
      ok: false,
      error: {
        code: 'VALIDATION_FAILED',
        message: 'Invalid join payload: room must be 1-64 letters, digits, _ or -, starting with a letter or digit',
        details: [{ field: 'room', message: 'must be 1-64 letters, digits, _ or -, starting with a letter or digit' }],
      },
    });
  });
});
