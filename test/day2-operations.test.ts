import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import type { StoredMessage } from '../src/messages/schema.js';
import { databaseLoad, sampleConnections, type LoadReport } from './helpers/budget.js';
import { sample, startCluster, type Cluster } from './helpers/cluster.js';
import { ab } from './helpers/load.js';
import { runCommand, type CommandResult } from './helpers/process.js';
import { collect, connect, join, type TestSocket, postMessage } from './helpers/realtime.js';
import { createTestDatabase, execFileAsync, ROOT, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

/**
 * What users do on the second day: re-run npm start, reload, scale, add a host, change the
 * configuration. One PM2 cluster goes through all of it, under a steady crowd of database
 * requests, while pg_stat_activity is sampled every 20 ms: the deployment never holds more
 * connections than DB_CONNECTION_BUDGET, during the transitions too.
 */

const BUDGET = 20;
const LOAD = 200;

interface Member {
  host: string;
  role: 'api' | 'worker';
  pid: number;
  claim: number;
  pool: { max: number };
}
interface ClusterInfo {
  pid: number;
  instances: number;
  hostname: string;
  db: { poolMax: number; budget: number };
  socket: { adapter: string };
  members: Member[];
}

type Run = CommandResult;

const run = runCommand;

/** stderr without npm's own warnings about this machine's npm configuration. */
function errorLines(result: Run): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('npm warn'));
}

const tokens = createTokenService(TEST_JWT_SECRET);

let db: TestDatabase;
let cluster: Cluster;
/** The environment the operator's shell has: what each re-run starts from. */
let shell: NodeJS.ProcessEnv;

before(async () => {
  db = await createTestDatabase();
  // The scrape token shows /api/cluster-info in full once the cluster runs in production.
  cluster = await startCluster({ instances: 2, databaseUrl: db.url, env: { DB_CONNECTION_BUDGET: String(BUDGET), METRICS_TOKEN } });
  shell = { ...cluster.env };
});
after(async () => {
  await cluster.stop();
  await db.drop();
});

const METRICS_TOKEN = 'scrape-token-of-the-day2-test';

/** Every instance of a cluster, as /api/cluster-info answers from each (distinct pids). */
async function infos(target: Cluster, count: number): Promise<ClusterInfo[]> {
  const byPid = new Map<number, ClusterInfo>();
  for (let i = 0; i < count * 10 && byPid.size < count; i += 1) {
    const [one] = await sample<ClusterInfo>(target.baseUrl, '/api/cluster-info', 1, { authorization: `Bearer ${METRICS_TOKEN}` });
    if (one) byPid.set(one.pid, one);
  }
  return [...byPid.values()];
}

/**
 * Waits until `count` instances are online, each reporting `total` live API instances and, with
 * `poolMax`, a pool resized to it: pools follow membership at the next heartbeat, a moment
 * after the count changes.
 */
async function settled(target: Cluster, count: number, total = count, poolMax?: number): Promise<ClusterInfo[]> {
  const pools = poolMax === undefined ? '' : ` and a pool of ${poolMax}`;
  return waitFor(`${count} instances, each reporting ${total} live API instances${pools}`, async () => {
    const api = (await target.jlist()).filter((p) => p.name === 'api' && p.pm2_env.status === 'online');
    if (api.length !== count) return undefined;
    const seen = await infos(target, count);
    const pids = new Set(api.map((p) => p.pid));
    const ready = (i: ClusterInfo) => pids.has(i.pid) && i.instances === total && (poolMax === undefined || i.db.poolMax === poolMax);
    return seen.length === count && seen.every(ready) ? seen : undefined;
  }, 30_000, 250);
}

/** Runs an operation under LOAD concurrent database reads, sampling connections; returns its result, the peak and the load's answers. */
async function underLoad<T>(t: TestContext, targets: Cluster[], operation: () => Promise<T>): Promise<{ result: T; peak: number; load: LoadReport }> {
  const sampler = sampleConnections(db.name);
  const load = databaseLoad(targets.map((c) => c.baseUrl), LOAD);
  try {
    await waitFor('the load to run', () => load.completed() >= LOAD, 30_000, 50);
    const result = await operation();
    return { result, peak: await sampler.stop(), load: await load.stop() };
  } finally {
    await load.stop();
    const peak = await sampler.stop();
    t.diagnostic(`peak ${peak} connections (budget ${BUDGET})`);
  }
}

async function checkCluster(env: NodeJS.ProcessEnv): Promise<{ ok: boolean; checks: { name: string; ok: boolean; detail: string }[] }> {
  const result = await run('bash', ['check-cluster.sh', '--json', '--requests', '16', '--load', '200'], env);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return JSON.parse(result.stdout) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
}

function describeLoad(load: LoadReport): string {
  return Object.entries(load.byStatus).map(([status, n]) => `${status}: ${n}`).join(', ');
}

describe('day-2 operations on a 2-instance cluster, under 200 concurrent database requests', () => {
  const steps: { name: string; count: number; command: () => Promise<Run> }[] = [
    { name: 'npm run restart:cluster', count: 2, command: () => run('npm', ['run', 'restart:cluster'], shell) },
    { name: 'a second npm start', count: 2, command: () => run('npm', ['start'], shell) },
    { name: 'API_INSTANCES=3 npm start', count: 3, command: () => run('npm', ['start'], (shell = { ...shell, API_INSTANCES: '3' })) },
    { name: 'pm2 scale api 2', count: 2, command: async () => ({ code: 0, stdout: await cluster.pm2('scale', 'api', '2'), stderr: '' }) },
  ];

  it('starts within the budget: check-cluster passes and every instance reports 2', async (t) => {
    const { peak } = await underLoad(t, [cluster], () => settled(cluster, 2));
    assert.ok(peak <= BUDGET, `peak ${peak} connections`);
    assert.ok((await checkCluster(shell)).ok);
  });

  for (const step of steps) {
    it(`${step.name}: ends with ${step.count} instances, check-cluster passes, never over the budget`, async (t) => {
      const pidsBefore = new Set((await cluster.jlist()).filter((p) => p.name === 'api').map((p) => p.pid));
      const { result, peak, load } = await underLoad(t, [cluster], async () => {
        const started = Date.now();
        const done = await step.command();
        assert.equal(done.code, 0, done.stdout + done.stderr);
        t.diagnostic(`${step.name} took ${Date.now() - started} ms`);
        if (step.name.startsWith('npm') || step.name.includes(' npm ')) {
          assert.equal(done.stdout.split('\n').filter((line) => /│ id\s+│ name/.test(line)).length, 1, `one pm2 table:\n${done.stdout}`);
        }
        return settled(cluster, step.count, step.count, Math.floor((BUDGET - 1) / step.count));
      });
      t.diagnostic(`${load.total} requests (${describeLoad(load)})`);
      assert.ok(peak <= BUDGET, `peak ${peak} connections`);
      for (const info of result) assert.equal(info.members.filter((m) => m.role === 'api').length, step.count);
      if (step.name !== 'pm2 scale api 2') {
        const pidsAfter = (await cluster.jlist()).filter((p) => p.name === 'api').map((p) => p.pid);
        assert.equal(pidsAfter.filter((pid) => pidsBefore.has(pid)).length, 0, 'every instance was replaced');
      }
      shell = { ...shell, API_INSTANCES: String(step.count) };
      const report = await checkCluster(shell);
      assert.deepEqual(report.checks.filter((c) => !c.ok), []);
    });
  }
});

describe('a second host on the same database and Redis', () => {
  let hostB: Cluster;
  const sockets: TestSocket[] = [];
  before(async () => {
    hostB = await startCluster({
      instances: 2,
      databaseUrl: db.url,
      env: { DB_CONNECTION_BUDGET: String(BUDGET), REDIS_KEY_PREFIX: shell.REDIS_KEY_PREFIX ?? '', HOST_ID: 'host-b' },
    });
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await hostB.stop();
  });

  it('shares one budget with the first host, each listing the other\'s members', async (t) => {
    const { result, peak } = await underLoad(t, [cluster, hostB], async () => [await settled(cluster, 2, 4), await settled(hostB, 2, 4)] as const);
    assert.ok(peak <= BUDGET, `peak ${peak} connections`);
    const [onA, onB] = result;
    const hostA = onA[0]?.hostname ?? '';
    assert.notEqual(hostA, 'host-b');
    for (const info of [...onA, ...onB]) {
      assert.deepEqual([...new Set(info.members.map((m) => `${m.host}/${m.role}`))].sort(), [`${hostA}/api`, `${hostA}/worker`, 'host-b/api', 'host-b/worker'].sort());
      // Two workers' pools off the top, the rest split by four API instances.
      assert.equal(info.db.poolMax, Math.floor((BUDGET - 2) / 4));
      assert.ok(info.members.reduce((sum, m) => sum + m.claim, 0) <= BUDGET);
    }
  });

  it('delivers a message posted to one host to a Socket.IO client of the other', async () => {
    const token = await tokens.sign('carol');
    const { socket } = await connect(hostB.baseUrl, token);
    sockets.push(socket);
    assert.equal((await join(socket, 'hosts')).ok, true);
    const seen = collect(socket, 'message');
    const res = await postMessage(cluster.baseUrl, 'hosts', { body: 'from host A' }, token);
    assert.equal(res.status, 201);
    const stored = (await res.json()) as StoredMessage;
    await waitFor('the message on host B', () => seen.some((m) => m.id === stored.id), 10_000, 50);
  });

  it('gives the room back when the second host stops', async () => {
    await hostB.stop();
    await settled(cluster, 2, 2);
    // Room is taken back as the other host's members leave: within a few heartbeats.
    await waitFor('both instances back at the share of 2', async () => (await infos(cluster, 2)).every((info) => info.db.poolMax === Math.floor((BUDGET - 1) / 2)), 15_000, 250);
  });
});

describe('re-runs apply the caller\'s configuration, or change nothing', () => {
  it('ENABLE_CLUSTER=false npm start switches every instance to the in-memory adapter', async () => {
    const off = await run('npm', ['start'], { ...shell, ENABLE_CLUSTER: 'false' });
    assert.equal(off.code, 0, off.stderr);
    for (const info of await settled(cluster, 2)) assert.equal(info.socket.adapter, 'memory');
  });

  it('a re-run with a new JWT_SECRET (and ENABLE_CLUSTER unset again) applies both: old token 401, new token 201, Redis adapter back', async () => {
    const secret = 'a'.repeat(40) + 'b'.repeat(24);
    const rerun = await run('npm', ['start'], (shell = { ...shell, JWT_SECRET: secret }));
    assert.equal(rerun.code, 0, rerun.stderr);
    for (const info of await settled(cluster, 2)) assert.equal(info.socket.adapter, 'redis', 'a variable no longer set does not linger');
    const post = async (token: string) => (await postMessage(cluster.baseUrl, 'secrets', { body: 'rotated' }, token, { headers: { connection: 'close' } })).status;
    const oldToken = await tokens.sign('dave');
    const newToken = await createTokenService(secret).sign('dave');
    // Several requests, so both instances answer.
    for (let i = 0; i < 4; i += 1) {
      assert.equal(await post(oldToken), 401);
      assert.equal(await post(newToken), 201);
    }
  });

  it('npm run start:prod without a production-grade secret exits 1 with one line, and the running cluster serves on undisturbed', async () => {
    const before = (await cluster.jlist()).map((p) => [p.pid, p.pm2_env.restart_time]);
    const load = ab(`${cluster.baseUrl}/api/status`, { concurrency: 8, seconds: 6 });
    const prod = await run('npm', ['run', 'start:prod'], { ...shell, JWT_SECRET: 'sixteen-chars-ok-but-short' });
    const result = await load;
    assert.equal(prod.code, 1);
    assert.deepEqual(errorLines(prod), ['Invalid configuration: JWT_SECRET must be set to at least 32 characters when NODE_ENV=production']);
    assert.ok(result.complete > 100, result.raw);
    assert.equal(result.failed, 0, result.raw);
    assert.equal(result.non2xx, 0, result.raw);
    assert.deepEqual((await cluster.jlist()).map((p) => [p.pid, p.pm2_env.restart_time]), before, 'no instance restarted');
  });

  it('JWT_SECRET=<64 hex> npm run start:prod over the running development cluster switches every instance to production with that secret', async () => {
    const secret = 'c0ffee'.repeat(10) + 'beef';
    const prod = await run('npm', ['run', 'start:prod'], (shell = { ...shell, JWT_SECRET: secret }));
    assert.equal(prod.code, 0, prod.stdout + prod.stderr);
    await settled(cluster, 2);
    const statuses = await sample<{ environment: string; worker: number }>(cluster.baseUrl, '/api/status', 6);
    assert.equal(new Set(statuses.map((s) => s.worker)).size, 2);
    for (const status of statuses) assert.equal(status.environment, 'production');
    const res = await postMessage(cluster.baseUrl, 'prod', { body: 'in production' }, await createTokenService(secret).sign('erin'));
    assert.equal(res.status, 201);
    const api = (await cluster.jlist()).filter((p) => p.name === 'api');
    assert.ok(api.every((p) => p.pm2_env.status === 'online'));
  });

  it('the ab command docs/verification.md gives for /health reports no failed requests', async () => {
    const documented = /^ab .*http:\/\/127\.0\.0\.1:3000\/health\b/m.exec(readFileSync(joinPath(ROOT, 'docs', 'verification.md'), 'utf8'))?.[0];
    assert.ok(documented, 'docs/verification.md shows an ab command for /health');
    const args = documented.split('#')[0]?.trim().split(/\s+/).slice(1).map((arg) => arg.replace('http://127.0.0.1:3000', cluster.baseUrl)) ?? [];
    const { stdout } = await execFileAsync('ab', args, { timeout: 60_000 });
    assert.match(stdout, /Complete requests:\s+1000/);
    assert.match(stdout, /Failed requests:\s+0\n/);
  });

  it('npm run logs shows more than PM2\'s 15 lines, each labelled with its own process, and returns', async () => {
    const logs = await run('npm', ['run', 'logs'], shell);
    assert.equal(logs.code, 0, logs.stderr);
    const apiLines = logs.stdout.split('\n').filter((line) => /^\S*\d+\|api\s*\|/.test(stripVTControlCharacters(line)));
    assert.ok(apiLines.length > 15, `${apiLines.length} api lines:\n${logs.stdout.slice(0, 2000)}`);
    // One file per process: a line's PM2 label `<pm_id>|api` is the instance its JSON names.
    const instanceOf = new Map((await cluster.jlist()).map((p) => [String(p.pm_id), String(p.pm2_env.NODE_APP_INSTANCE)]));
    for (const line of apiLines) {
      const [, pmId = '', json = ''] = /^\s*(\d+)\|api\s*\|\s*(.*)$/.exec(stripVTControlCharacters(line)) ?? [];
      if (!json.startsWith('{"level"') || !instanceOf.has(pmId)) continue; // a file's first line may be cut; a removed process's file
      assert.equal(String((JSON.parse(json) as { instanceId: number }).instanceId), instanceOf.get(pmId), line);
    }
  });

  it('a valid configuration whose instances never become ready is rolled back: the command says so, exits 1, and the cluster serves with the old one', async () => {
    // Valid, but nothing listens there: the new instances start and never pass /ready.
    const broken = await run('npm', ['run', 'restart:cluster'], { ...shell, DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere', LISTEN_TIMEOUT_MS: '3000' });
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(broken.stderr, /The new instances did not become ready within \d+ ms: .*\/ready/);
    assert.match(broken.stderr, /The cluster serves with its previous configuration/);
    await settled(cluster, 2);
    const reads = await sample<{ messages: unknown[] }>(cluster.baseUrl, '/api/rooms/lobby/messages', 6);
    for (const read of reads) assert.ok(Array.isArray(read.messages), 'the database answers again through every instance');
    const api = (await cluster.jlist()).filter((p) => p.name === 'api');
    assert.ok(api.every((p) => p.pm2_env.status === 'online'), 'nothing crash-loops');
  });

  it('API_INSTANCES=abc npm start gives the one-line error and changes nothing', async () => {
    const before = (await cluster.jlist()).map((p) => p.pid);
    const bad = await run('npm', ['start'], { ...shell, API_INSTANCES: 'abc' });
    assert.equal(bad.code, 1);
    assert.deepEqual(errorLines(bad), [`Invalid configuration: API_INSTANCES must be 'max', a number, or a negative number (CPUs minus N); got "abc"`]);
    assert.deepEqual((await cluster.jlist()).map((p) => p.pid), before);
  });
});
