import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import { startTestApi } from './helpers/api.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { connectToTwoInstances, type TestSocket } from './helpers/realtime.js';
import { createTestDatabase, execFileAsync, sleep, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

describe('metrics of a live 2-instance cluster', () => {
  let cluster: Cluster;
  const sockets: TestSocket[] = [];
  before(async () => {
    cluster = await startCluster({ instances: 2, databaseUrl: db.url });
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await cluster.stop();
  });

  it('publishes the custom metrics to pm2 (axm_monitor) with plausible values after traffic', async () => {
    const token = await createTokenService(TEST_JWT_SECRET).sign('metrics');
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    await execFileAsync('ab', ['-q', '-c', '4', '-n', '400', `${cluster.baseUrl}/api/rooms/metrics/messages`]);

    const value = (metrics: Record<string, { value: unknown }>, name: string) => Number.parseFloat(String(metrics[name]?.value));
    const api = await waitFor('metrics of both instances after the traffic', async () => {
      const list = (await cluster.jlist()).filter((p) => p.name === 'api');
      return list.length === 2 && list.every((p) => value(p.pm2_env.axm_monitor ?? {}, 'req/sec') > 0 && value(p.pm2_env.axm_monitor ?? {}, 'Socket.IO clients') >= 1) ? list : undefined;
    });
    for (const p of api) {
      const m = p.pm2_env.axm_monitor ?? {};
      assert.ok(value(m, 'req/sec') > 0, 'req/sec');
      assert.match(`${String(m['req/sec']?.value)}${m['req/sec']?.unit ?? ''}`, /^[\d.]+$/, 'pm2 monit shows "req/sec <number>", its unit not repeated');
      assert.ok(value(m, 'p95 latency') > 0, 'p95 latency');
      assert.ok(value(m, 'heap used') > 1 && value(m, 'heap used') < 1024, 'heap used in MiB');
      assert.equal(value(m, 'Socket.IO clients'), 1);
      for (const name of ['in-flight requests', 'DB pool in use', 'DB pool waiting', 'event loop lag p99']) {
        assert.ok(Number.isFinite(value(m, name)) && value(m, name) >= 0, name);
      }
      assert.ok(value(m, 'event loop lag p99') < 1000, 'event loop lag p99 is in ms and plausible');
    }
  });

  it('serves /metrics describing both instances on every scrape', async () => {
    for (let i = 0; i < 6; i += 1) {
      const res = await fetch(`${cluster.baseUrl}/metrics`, { headers: { connection: 'close' } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      assert.equal(res.headers.get('x-metrics-instances'), '2');
      const text = await res.text();
      for (const instance of ['0', '1']) {
        assert.match(text, new RegExp(`^process_cpu_user_seconds_total\\{instance="${instance}",host="[^"]+"\\} `, 'm'));
        assert.match(text, new RegExp(`^http_request_duration_seconds_bucket\\{[^}]*instance="${instance}"`, 'm'));
      }
      assert.doesNotMatch(text, /^http_request_duration_seconds_count\{[^}]*route="\/api\/rooms\/metrics/m, 'raw paths never become labels');
      await sleep(100);
    }
  });
});


describe('route labels', () => {
  it('labels /health, /api/health and /ready by their route, and only 404s as unmatched', async () => {
    const database = await createTestDatabase({ migrated: true });
    const api = await startTestApi(database.url);
    try {
      for (const path of ['/health', '/api/health', '/ready', '/no-such-page']) await (await fetch(`${api.url}${path}`)).arrayBuffer();
      const text = await (await fetch(`${api.url}/metrics`)).text();
      const count = (route: string, status: number) =>
        Number(new RegExp(`^http_request_duration_seconds_count\\{method="GET",route="${route}",status_code="${status}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
      assert.equal(count('/health', 200), 1);
      assert.equal(count('/api/health', 200), 1);
      assert.equal(count('/ready', 200), 1);
      assert.equal(count('unmatched', 404), 1);
      assert.equal(count('unmatched', 200), 0);
    } finally {
      await api.stop();
      await database.drop();
    }
  });
});
