import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { createTestDatabase, execFileAsync, ROOT, type TestDatabase } from './helpers/services.js';

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

describe('check-cluster.sh on a live 2-instance cluster', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ instances: 2, databaseUrl: db.url });
  });
  after(async () => {
    await cluster.stop();
  });

  it('check-cluster.sh passes every check and exits 0', async () => {
    const json = await checkCluster(cluster, '--json');
    assert.equal(json.code, 0, json.stdout);
    const report = JSON.parse(json.stdout) as CheckReport;
    assert.equal(report.ok, true);
    assert.equal(report.expected, 2, 'defaults --expect to what the ecosystem file resolves (API_INSTANCES=2)');
    assert.deepEqual(report.checks.filter((c) => !c.ok), []);
    for (const name of ['runs in cluster mode', 'instance count', 'answers from every instance', 'cluster membership matches PM2', 'pools within budget', 'logs show every instance', 'logs show the Redis adapter', '/ready on every instance', 'database connections within budget', 'load spread over every instance']) {
      assert.ok(report.checks.some((c) => c.name === name && c.ok), `check "${name}" ran and passed`);
    }

    const text = await checkCluster(cluster, '--requests', '20', '--load', '100');
    assert.equal(text.code, 0, text.stdout);
    const lines = text.stdout.split('\n').filter((l) => /^\s+[✓✗]/.test(l));
    assert.ok(lines.length >= 10);
    for (const line of lines) assert.match(line, /✓/);
    assert.match(text.stdout, /All checks passed\./);
  });
});

describe('check-cluster.sh usage errors', () => {
  for (const [args, message] of [
    [['--url'], /^--url needs a value \(see --help\)$/],
    [['--expect', '0'], /^--expect must be a positive integer$/],
    [['--bogus'], /^Unknown option: --bogus \(see --help\)$/],
  ] as const) {
    it(`check-cluster.sh ${args.join(' ')} exits 2 with one line saying why`, async () => {
      const failed = (await execFileAsync('bash', ['check-cluster.sh', ...args], { cwd: ROOT }).then(
        () => assert.fail('exited 0'),
        (e: unknown) => e,
      )) as { code: number; stderr: string };
      assert.equal(failed.code, 2);
      assert.match(failed.stderr.trim(), message);
    });
  }
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
