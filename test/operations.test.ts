import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { connectToTwoInstances, type TestSocket } from './helpers/realtime.js';
import { createTestDatabase, execFileAsync, ROOT, sleep, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

interface CheckReport {
  ok: boolean;
  expected: number;
  checks: { name: string; ok: boolean; detail: string }[];
}

async function checkCluster(cluster: Cluster, ...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await execFileAsync('bash', ['check-cluster.sh', ...args], { cwd: ROOT, env: cluster.env, timeout: 180_000 });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

describe('operations on a live 2-instance cluster', () => {
  let cluster: Cluster;
  const sockets: TestSocket[] = [];
  before(async () => {
    cluster = await startCluster({ instances: 2, databaseUrl: db.url });
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await cluster.stop();
  });

  it('check-cluster.sh passes every check and exits 0', async () => {
    const json = await checkCluster(cluster, '--json');
    assert.equal(json.code, 0, json.stdout);
    const report = JSON.parse(json.stdout) as CheckReport;
    assert.equal(report.ok, true);
    assert.equal(report.expected, 2, 'defaults --expect to what the ecosystem file resolves (API_INSTANCES=2)');
    assert.deepEqual(report.checks.filter((c) => !c.ok), []);
    for (const name of ['runs in cluster mode', 'instance count', 'answers from every instance', 'logs show every instance', 'logs show the Redis adapter', '/ready on every instance', 'database connections within budget', 'load spread over every instance']) {
      assert.ok(report.checks.some((c) => c.name === name && c.ok), `check "${name}" ran and passed`);
    }

    const text = await checkCluster(cluster, '--requests', '20', '--load', '100');
    assert.equal(text.code, 0, text.stdout);
    const lines = text.stdout.split('\n').filter((l) => /^\s+[✓✗]/.test(l));
    assert.ok(lines.length >= 10);
    for (const line of lines) assert.match(line, /✓/);
    assert.match(text.stdout, /All checks passed\./);
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

describe('check-cluster.sh against the same app in fork mode', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ instances: 2, databaseUrl: db.url, forkMode: true });
  });
  after(async () => {
    await cluster.stop();
  });

  it('exits non-zero and names the failing checks', async () => {
    const { code, stdout } = await checkCluster(cluster, '--expect', '2', '--requests', '10', '--load', '50');
    assert.notEqual(code, 0);
    for (const name of ['runs in cluster mode', 'instance count', 'answers from every instance', 'clusterMode reported', 'load spread over every instance']) {
      assert.match(stdout, new RegExp(`✗ ${name.replace('/', '\\/')}:`), `names "${name}"`);
    }
    assert.match(stdout, /exec_mode fork_mode/);
    assert.match(stdout, /check\(s\) failed/);
  });
});
