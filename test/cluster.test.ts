import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sample, startCluster, type Cluster } from './helpers/cluster.js';
import { ab } from './helpers/load.js';
import { createTestDatabase, type TestDatabase } from './helpers/services.js';

interface ClusterInfo {
  instanceId: number;
  pid: number;
  clusterMode: boolean;
  processManager: string;
  instances: number;
  cpuCount: number;
}

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

describe('a PM2 cluster of 2 API instances', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ instances: 2, databaseUrl: db.url, apiOnly: true });
  });
  after(async () => {
    await cluster.stop();
  });

  it('runs both instances online in cluster_mode', async () => {
    const api = (await cluster.jlist()).filter((p) => p.name === 'api');
    assert.equal(api.length, 2);
    for (const p of api) {
      assert.equal(p.pm2_env.status, 'online');
      assert.equal(p.pm2_env.exec_mode, 'cluster_mode');
    }
  });

  it('spreads 20 calls to /api/cluster-info over both instance ids and two pids', async () => {
    const infos = await sample<ClusterInfo>(cluster.baseUrl, '/api/cluster-info', 20);
    assert.deepEqual(new Set(infos.map((i) => i.instanceId)), new Set([0, 1]));
    assert.equal(new Set(infos.map((i) => i.pid)).size, 2);
    for (const info of infos) {
      assert.equal(info.clusterMode, true);
      assert.equal(info.processManager, 'pm2');
      assert.equal(info.instances, 2);
      assert.ok(info.cpuCount >= 1);
    }
  });

  it('answers /health with its shape and the instance and request id headers', async () => {
    const res = await fetch(`${cluster.baseUrl}/health`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['instanceId', 'status', 'timestamp', 'uptime', 'worker']);
    assert.equal(body.status, 'ok');
    assert.ok(!Number.isNaN(Date.parse(String(body.timestamp))));
    assert.equal(typeof body.uptime, 'number');
    assert.equal(typeof body.worker, 'number');
    assert.equal(res.headers.get('x-instance-id'), String(body.instanceId));
    assert.match(res.headers.get('x-request-id') ?? '', /^[\w-]{36}$/);

    const echoed = await fetch(`${cluster.baseUrl}/api/health`, { headers: { 'x-request-id': 'caller-id-123' } });
    assert.equal(echoed.headers.get('x-request-id'), 'caller-id-123');
  });

  it('answers /api/status with the package version', async () => {
    const body = (await (await fetch(`${cluster.baseUrl}/api/status`)).json()) as Record<string, unknown>;
    assert.equal(body.version, '1.0.0');
    assert.equal(body.environment, 'development');
    assert.equal(typeof body.message, 'string');
    assert.equal(typeof body.worker, 'number');
  });

  it('logs the listening line of every instance, each line one JSON object with pid and instanceId', () => {
    const logs = cluster.logs();
    const listening = cluster.logLines().filter((l) => l.event === 'listening');
    assert.deepEqual([...new Set(listening.map((l) => l.instanceId))].sort(), [0, 1]);
    const lines = logs.split('\n').filter((l) => l !== '');
    assert.ok(lines.length > 0);
    for (const line of lines) {
      // The whole line: PM2 adds no date prefix (no log_date_format), so log shippers parse it.
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.equal(typeof entry.pid, 'number', line);
      assert.equal(typeof entry.instanceId, 'number', line);
    }
  });

  it('drops no request over two reloads in a row under steady keep-alive load (ab -k -r)', async () => {
    const pidsBefore = new Set((await cluster.jlist()).map((p) => p.pid));
    const load = ab(`${cluster.baseUrl}/api/status`, { concurrency: 8, seconds: 12 });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await cluster.pm2('reload', 'api');
    await cluster.pm2('reload', 'api');
    const result = await load;
    const pidsAfter = new Set((await cluster.jlist()).map((p) => p.pid));

    assert.equal([...pidsAfter].filter((pid) => pidsBefore.has(pid)).length, 0, 'both reloads replaced every instance');
    assert.ok(result.complete > 500, `too little load to mean anything: ${result.raw}`);
    assert.ok(result.keepAlive > 0, 'the load used keep-alive connections');
    assert.equal(result.failed, 0, result.raw);
    assert.equal(result.non2xx, 0, result.raw);
  });
});
