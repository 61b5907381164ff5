import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
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

  // First, while the start lines are among each process's last 50 (the checks below add hundreds of request lines).
  it('the pm2 logs command docs/verification.md gives returns, and shows one "Instance:" line per instance, labelled with its own process', async () => {
    const documented = /^npx pm2 logs .*grep "Instance:"$/m.exec(readFileSync(join(ROOT, 'docs', 'verification.md'), 'utf8'))?.[0];
    assert.ok(documented, 'docs/verification.md shows a pm2 logs command piped to grep "Instance:"');
    const { stdout } = await execFileAsync('bash', ['-o', 'pipefail', '-c', documented], { cwd: ROOT, env: cluster.env, timeout: 60_000 });
    const lines = stripVTControlCharacters(stdout).trim().split('\n');
    const pmIdOf = new Map((await cluster.jlist()).filter((p) => p.name === 'api').map((p) => [String(p.pm2_env.NODE_APP_INSTANCE), String(p.pm_id)]));
    assert.equal(lines.length, 2, stdout);
    for (const instance of ['0', '1']) {
      const line = lines.find((l) => l.includes(`(Instance: ${instance})`));
      assert.ok(line, `a line says Instance: ${instance}\n${stdout}`);
      assert.match(line, new RegExp(`^\\s*${pmIdOf.get(instance)}\\|api\\s*\\|`), 'labelled with the PM2 id of the process that wrote it');
    }
  });

  it('check-cluster.sh passes every check and exits 0', async () => {
    const json = await checkCluster(cluster, '--json');
    assert.equal(json.code, 0, json.stdout);
    const report = JSON.parse(json.stdout) as CheckReport;
    assert.equal(report.ok, true);
    assert.equal(report.expected, 2, 'defaults --expect to what the ecosystem file resolves (API_INSTANCES=2)');
    assert.deepEqual(report.checks.filter((c) => !c.ok), []);
    for (const name of ['runs in cluster mode', 'instance count', 'answers from every instance', 'cluster membership matches PM2', 'pools within budget', 'Redis adapter on every instance', '/ready on every instance', 'database connections within budget', 'load spread over every instance']) {
      assert.ok(report.checks.some((c) => c.name === name && c.ok), `check "${name}" ran and passed`);
    }

    const text = await checkCluster(cluster, '--requests', '20', '--load', '100');
    assert.equal(text.code, 0, text.stdout);
    const lines = text.stdout.split('\n').filter((l) => /^\s+[✓✗]/.test(l));
    assert.ok(lines.length >= 10);
    for (const line of lines) assert.match(line, /✓/);
    assert.match(text.stdout, /All checks passed\./);
  });

  it('check-cluster.sh passes at LOG_LEVEL=warn, where the instances log no start or adapter line', async () => {
    await execFileAsync('bash', ['scripts/start.sh', '--reload', '--only', 'api'], { cwd: ROOT, env: { ...cluster.env, LOG_LEVEL: 'warn' }, timeout: 180_000 });
    const levels = new Set((await cluster.jlist()).filter((p) => p.name === 'api').map((p) => (p.pm2_env as { LOG_LEVEL?: string }).LOG_LEVEL));
    assert.deepEqual([...levels], ['warn'], 'every instance runs at warn');
    const json = await checkCluster(cluster, '--json', '--requests', '20', '--load', '100');
    const report = JSON.parse(json.stdout) as CheckReport;
    assert.deepEqual(report.checks.filter((c) => !c.ok), []);
    assert.equal(json.code, 0);
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
