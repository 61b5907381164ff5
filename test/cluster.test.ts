import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sample, startCluster, type Cluster } from './helpers/cluster.js';
import { startAb } from './helpers/load.js';
import { createTestDatabase, waitFor, type TestDatabase } from './helpers/services.js';

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

  it("starts the instances with the ecosystem file's MALLOC_* in their real environment, where glibc reads them", async () => {
    for (const p of (await cluster.jlist()).filter((proc) => proc.name === 'api')) {
      const environ = new Map(readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
      assert.equal(environ.get('MALLOC_ARENA_MAX'), '1', `pid ${p.pid}`);
      assert.equal(environ.get('MALLOC_TRIM_THRESHOLD_'), '131072', `pid ${p.pid}`);
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

  /** Requests to /api/status the live instances have served, from the cluster-wide /metrics. */
  async function statusRequestsServed(): Promise<number> {
    const text = await (await fetch(`${cluster.baseUrl}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) })).text();
    return [...text.matchAll(/^http_request_duration_seconds_count\{[^}]*route="\/api\/status"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  it('drops no request over two reloads in a row, both inside a steady keep-alive load (ab -k -r)', async () => {
    const pidsBefore = new Set((await cluster.jlist()).map((p) => p.pid));
    const load = startAb(`${cluster.baseUrl}/api/status`, { concurrency: 8 });
    try {
      await waitFor('the load to reach the instances', async () => (await statusRequestsServed()) >= 300, 30_000, 100);
      await cluster.pm2('reload', 'api');
      await cluster.pm2('reload', 'api');
      // Every instance is new: what they count was served after both reloads, under the same load.
      await waitFor('the load to go on after the reloads', async () => (await statusRequestsServed()) >= 300, 30_000, 100);
      assert.ok(load.running(), 'ab ran from before the first reload until after the second');
    } finally {
      const result = await load.stop();
      const pidsAfter = new Set((await cluster.jlist()).map((p) => p.pid));
      assert.equal([...pidsAfter].filter((pid) => pidsBefore.has(pid)).length, 0, 'both reloads replaced every instance');
      // Lines wait for the end of the event-loop turn (observability/batched-stdout.ts): an exit must not lose the last ones.
      const completed = new Set(cluster.logLines().filter((l) => l.event === 'shutdown-complete').map((l) => l.pid));
      for (const pid of pidsBefore) if (!pidsAfter.has(pid)) assert.ok(completed.has(pid), `pid ${pid} logged shutdown-complete before it exited`);
      assert.ok(result.complete >= 600, `ab's report: ${result.raw}`);
      assert.ok(result.keepAlive > 0, 'the load used keep-alive connections');
      assert.equal(result.failed, 0, result.raw);
      assert.equal(result.non2xx, 0, result.raw);
    }
  });

  it('PM2 restarts an instance that crashed while the other one serves', async () => {
    const before = (await cluster.jlist()).filter((p) => p.name === 'api');
    const crash = await fetch(`${cluster.baseUrl}/api/debug/crash`, { method: 'POST', headers: { connection: 'close' } });
    assert.equal(crash.status, 202);
    const { crashing } = (await crash.json()) as { crashing: number };
    const victim = before.find((p) => p.pid === crashing);
    assert.ok(victim, `pid ${crashing} is one of the instances`);

    const answers: number[] = [];
    const restarted = await waitFor('PM2 to restart it', async () => {
      const res = await fetch(`${cluster.baseUrl}/health`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) }).catch(() => undefined);
      answers.push(res?.status ?? 0);
      const api = (await cluster.jlist()).filter((p) => p.name === 'api');
      const replacement = api.find((p) => p.pm2_env.NODE_APP_INSTANCE === victim.pm2_env.NODE_APP_INSTANCE);
      return api.length === 2 && api.every((p) => p.pm2_env.status === 'online') && replacement && replacement.pid !== crashing ? replacement : undefined;
    }, 30_000, 100);
    assert.equal(restarted.pm2_env.restart_time, victim.pm2_env.restart_time + 1);
    const last = cluster.logLines().filter((l) => l.pid === crashing).map((l) => l.event);
    assert.ok(last.includes('uncaught-exception') && last.includes('shutdown-complete'), `the crashed instance's last lines reached the log: ${last.join(', ')}`);
    assert.ok(answers.length > 0 && answers.every((status) => status === 200), `/health while it restarted: ${answers.join(', ')}`);
    await waitFor('both instances to serve', async () => new Set((await sample<ClusterInfo>(cluster.baseUrl, '/api/cluster-info', 6)).map((i) => i.pid)).has(restarted.pid));
  });
});
