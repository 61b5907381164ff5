import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { createTokenService } from '../src/auth/jwt.js';
import { CUT_OFF_GRACE_MS } from '../src/lifecycle/readiness.js';
import type { Hello } from '../src/realtime/socket-server.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { createTestDatabase, SHARED_REDIS_URL, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';
import { tcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const tokens = createTokenService(TEST_JWT_SECRET);

interface ReadyBody {
  status: string;
  checks: Record<string, { status: string; outage?: string }>;
}

/** Routes `url` (redis:// or postgresql://) through the relay on `port`. */
function through(url: string, port: number): string {
  const routed = new URL(url);
  routed.hostname = '127.0.0.1';
  routed.port = String(port);
  return routed.toString();
}

/**
 * Two API instances share PostgreSQL and Redis; one reaches one of them through a relay the
 * test cuts, so it alone loses that dependency while the other keeps it. Clients connect
 * through a round-robin relay in front of both, as PM2 or a load balancer hands out
 * connections.
 */
for (const dependency of ['redis', 'database'] as const) describe(`readiness of an instance cut off alone from ${dependency === 'redis' ? 'Redis' : 'PostgreSQL'} (two instances in one process)`, () => {
  let db: TestDatabase;
  let route: TcpProxy;
  let front: TcpProxy;
  let cut: TestApi;
  let healthy: TestApi;
  const other = dependency === 'redis' ? 'database' : 'redis';
  before(async () => {
    db = await createTestDatabase({ migrated: true });
    // One DB_SCOPE: the relay's address differs from PostgreSQL's, yet it is one database.
    const shared = { REDIS_KEY_PREFIX: `${uniqueName('t')}:`, DB_SCOPE: uniqueName('scope') };
    if (dependency === 'redis') {
      route = await tcpProxy([Number(new URL(SHARED_REDIS_URL).port)]);
      cut = await startTestApi(db.url, { ...shared, REDIS_URL: through(SHARED_REDIS_URL, route.port) });
    } else {
      route = await tcpProxy([Number(new URL(db.url).port || 5432)]);
      cut = await startTestApi(through(db.url, route.port), shared);
    }
    healthy = await startTestApi(db.url, shared);
    front = await tcpProxy([cut.address.port, healthy.address.port]);
  });
  after(async () => {
    await front.close();
    await cut.stop();
    await healthy.stop();
    await route.close();
    await db.drop();
  });

  const ready = async (api: TestApi) => {
    const res = await fetch(`${api.url}/ready`, { signal: AbortSignal.timeout(10_000) });
    return { http: res.status, body: (await res.json()) as ReadyBody };
  };

  const clients = async (api: TestApi) =>
    ((await (await fetch(`${api.url}/api/cluster-info`, { signal: AbortSignal.timeout(10_000) })).json()) as { socket: { connectedClients: number } }).socket.connectedClients;

  it(`leaves rotation, refuses new sockets and hands its clients to the other instance; the other stays ready; all back once ${dependency} is reachable again`, async () => {
    await waitFor('both instances ready', async () => (await ready(cut)).body.status === 'ok' && (await ready(healthy)).body.status === 'ok');
    // Connections through the front alternate between the instances: keep the one that landed on the instance to be cut off.
    const token = await tokens.sign('alice');
    const hellos: Hello[] = [];
    const socket = io(`http://127.0.0.1:${front.port}`, { transports: ['websocket'], auth: { token }, forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    socket.on('hello', (hello: Hello) => hellos.push(hello));
    try {
      // The front's first connection goes to its first target.
      await waitFor('the socket on the instance about to be cut off', async () => hellos.length > 0 && (await clients(cut)) === 1);
      // Let the healthy instance's "I reach it" reports land (in PostgreSQL for Redis, in Redis for PostgreSQL).
      await new Promise((resolve) => setTimeout(resolve, 1500));

      const cutAt = Date.now();
      await route.cut();
      const alone = await waitFor('the cut-off instance to leave rotation', async () => {
        const answer = await ready(cut);
            return answer.http === 503 ? answer : undefined;
      }, 30_000);
      const outMs = Date.now() - cutAt;
      assert.equal(alone.body.status, 'unavailable');
      assert.equal(alone.body.checks[dependency]?.outage, 'alone');
      assert.equal(alone.body.checks[other]?.status, 'ok');
      assert.ok(outMs >= CUT_OFF_GRACE_MS, `left rotation after ${outMs} ms, not before the grace`);
      assert.equal((await ready(healthy)).body.status, 'ok', 'the other instance stays ready');

      // New sockets: refused by the cut-off instance, so every connection through the front ends on the healthy one.
      const counts = { connected: 0, refused: 0 };
      for (let i = 0; i < 4; i += 1) {
        const other = io(`http://127.0.0.1:${front.port}`, { transports: ['websocket'], auth: { token }, forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
        other.on('connect_error', () => { counts.refused += 1; });
        try {
          await new Promise<void>((resolve, reject) => {
            other.once('hello', () => { counts.connected += 1; resolve(); });
            setTimeout(() => { reject(new Error('no hello within 10 s')); }, 10_000);
          });
        } finally {
          other.close();
        }
      }
      assert.equal(counts.connected, 4, 'every new client got a connection');
      assert.ok(counts.refused >= 1, 'the cut-off instance refused the connections it was handed; socket.io-client retried them on its own');
      assert.ok(cut.logs.some((l) => l.event === 'cut-off'), `the cut-off was logged: ${JSON.stringify(cut.logs.filter((l) => l.level !== 'debug').map((l) => l.event ?? l.msg))}`);
      await waitFor('the first client connected again, to the healthy instance', async () => socket.connected && hellos.length >= 2 && (await clients(cut)) === 0 && (await clients(healthy)) === 1);

      await route.restore();
      await waitFor('the instance back in rotation', async () => (await ready(cut)).body.status === 'ok', 30_000);
      console.log(`cut off alone from ${dependency}: /ready 503 after ${outMs} ms`);
    } finally {
      socket.close();
    }
  });
});
