import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { followRoom, type MessagePage } from '../public/js/room-feed.js';
import { createTokenService } from '../src/auth/jwt.js';
import type { Hello } from '../src/realtime/socket-server.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { createTestDatabase, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';
import { startWriter, type Writer } from './helpers/followers.js';

/**
 * No message missed: a client following a room with the recipe of docs/realtime.md (the
 * page's own public/js/room-feed.js) through two `pm2 reload`s that drop its connection.
 */

const tokens = createTokenService(TEST_JWT_SECRET);

let db: TestDatabase;
let cluster: Cluster;
before(async () => {
  db = await createTestDatabase();
  // The writer posts 50 messages a second, far over the default per-user write limit.
  cluster = await startCluster({ instances: 2, databaseUrl: db.url, apiOnly: true, env: { WRITE_RATE_LIMIT: '0' } });
});
after(async () => {
  await cluster.stop();
  await db.drop();
});

async function getPage(path: string): Promise<MessagePage> {
  const res = await fetch(`${cluster.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as MessagePage;
}

/** Every id stored in the room, oldest first, paged over HTTP with `after`. */
async function storedIds(room: string): Promise<number[]> {
  const ids: number[] = [];
  for (let cursor: number | null = 0; cursor !== null; ) {
    const page = await getPage(`/api/rooms/${room}/messages?after=${cursor}&limit=100`);
    ids.push(...page.messages.map((m) => m.id));
    cursor = page.nextCursor;
  }
  return ids;
}

describe('a client following a room through two pm2 reloads', () => {
  it('holds every posted id exactly once while a writer posts every 20 ms', async () => {
    const room = 'reload-catch-up';
    const token = await tokens.sign('reader');
    const socket = io(cluster.baseUrl, { transports: ['websocket'], auth: { token }, forceNew: true });
    const served: number[] = [];
    const disconnects: string[] = [];
    socket.on('hello', (hello: Hello) => served.push(hello.pid));
    socket.on('disconnect', (reason) => disconnects.push(reason));
    const held: number[] = [];
    let joins = 0;
    const feed = followRoom({
      socket,
      room,
      history: 0,
      getPage,
      onMessage: (message) => held.push(message.id),
      onStatus: (status) => {
        if (status.joined && !status.error) joins += 1;
      },
    });
    // The client follows the room from its first join (it asks for no history), so the writer
    // starts once it has joined: every message it posts is one the client must end up holding.
    let writer: Writer | undefined;
    try {
      await waitFor('the first join', () => joins > 0, 20_000, 50);
      const active = startWriter(cluster.baseUrl, room, token, 20, { keepAlive: true, timeoutMs: 10_000 });
      writer = active;
      await waitFor('some messages before the reloads', () => active.posted.length >= 20, 20_000, 50);
      // Each reload drops the client; it rejoins (on a new instance) before the next, so both
      // reloads find it connected rather than one falling inside its reconnection back-off.
      for (let reload = 0; reload < 2; reload += 1) {
        const joinsBefore = joins;
        await cluster.pm2('reload', 'api');
        await waitFor('the client to rejoin after the reload', () => joins > joinsBefore, 20_000, 50);
      }
      const afterReloads = active.posted.length;
      await waitFor('some messages after the reloads', () => active.posted.length >= afterReloads + 20, 20_000, 50);
      await active.stop();

      const posted = new Set(active.posted);
      await waitFor('the client to hold every posted id', () => [...posted].every((id) => held.includes(id)), 20_000, 100).catch(() => undefined);
      const stored = await storedIds(room);
      const missing = stored.filter((id) => !held.includes(id));
      assert.deepEqual(missing, [], `ids stored but never delivered (${missing.length} of ${stored.length}); disconnects: ${disconnects.join(', ')}`);
      assert.equal(held.length, new Set(held).size, 'no id delivered twice');
      assert.deepEqual([...held].sort((a, b) => a - b), stored, 'the client holds exactly the stored messages');
      for (const id of posted) assert.ok(stored.includes(id), `posted id ${id} is stored`);
      assert.ok(active.posted.length >= 60, `the writer posted ${active.posted.length} messages (failures: ${active.failures.slice(0, 5).join('; ')})`);
      // The reloads really dropped the client, and it came back on new instances by itself.
      assert.ok(disconnects.length >= 2, `disconnected ${disconnects.length} times: ${disconnects.join(', ')}`);
      assert.ok(disconnects.every((reason) => reason === 'transport close'), `reasons: ${disconnects.join(', ')}`);
      assert.ok(new Set(served).size >= 3, `served by pids ${served.join(', ')}`);
      assert.ok(socket.connected);
    } finally {
      await writer?.stop();
      feed.stop();
      socket.close();
    }
  });
});
