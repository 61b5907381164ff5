import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sample, startCluster, type Cluster } from './helpers/cluster.js';
import { ab } from './helpers/load.js';
import { createTestDatabase, execFileAsync, freePort, ROOT, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

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

/** Runs the built API entry on its own (no process manager), for lifecycle and error tests. */
function startStandalone(env: Record<string, string>) {
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, REDIS_KEY_PREFIX: `${uniqueName('t')}:`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  return { child, exited, output: () => output };
}

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

  it('logs the listening line of every instance with pid and instanceId on each line', () => {
    const logs = cluster.logs();
    assert.match(logs, /Server listening on http:\/\/127\.0\.0\.1:\d+ \(Instance: 0\)/);
    assert.match(logs, /Server listening on http:\/\/127\.0\.0\.1:\d+ \(Instance: 1\)/);
    const lines = logs.split('\n').filter((l) => l.includes('{'));
    assert.ok(lines.length > 0);
    for (const line of lines) {
      const entry = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
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

describe('graceful shutdown of one instance', () => {
  it('answers a 2 s request that is in flight when SIGINT arrives, refuses new connections, then exits 0', async () => {
    const port = await freePort();
    const server = startStandalone({ PORT: String(port) });
    try {
      await waitFor('the instance to listen', async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
      const started = Date.now();
      const slow = fetch(`http://127.0.0.1:${port}/api/debug/delay?ms=2000`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      server.child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // A request on the keep-alive connection fetch already holds is served, and told to close it.
      const onOpenConnection = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(onOpenConnection.status, 200);
      assert.equal(onOpenConnection.headers.get('connection'), 'close');
      // A new connection is refused.
      await assert.rejects(
        new Promise((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.destroy();
            resolve(undefined);
          });
          socket.once('error', reject);
        }),
        /ECONNREFUSED/,
      );

      const res = await slow;
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { delayedMs: number }).delayedMs, 2000);
      assert.ok(Date.now() - started >= 2000);
      assert.equal(await server.exited, 0, server.output());
      assert.match(server.output(), /Shutdown complete/);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('shuts down and exits 1 on an uncaught exception', async () => {
    const port = await freePort();
    const server = startStandalone({ PORT: String(port) });
    try {
      await waitFor('the instance to listen', async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
      const res = await fetch(`http://127.0.0.1:${port}/api/debug/crash`, { method: 'POST' });
      assert.equal(res.status, 202);
      assert.equal(await server.exited, 1);
      assert.match(server.output(), /"level":"fatal".*Uncaught exception/);
      assert.match(server.output(), /Shutdown complete/);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});

describe('bad configuration', () => {
  it('PORT=abc npm start exits non-zero naming PORT and what it accepts', async () => {
    const pm2Home = mkdtempSync(join(tmpdir(), 'epc-pm2-'));
    try {
      const run = execFileAsync('npm', ['start'], { cwd: ROOT, env: { ...process.env, PM2_HOME: pm2Home, PORT: 'abc', DATABASE_URL: db.url }, timeout: 120_000 });
      const error = (await run.then(
        () => assert.fail('npm start succeeded with PORT=abc'),
        (e: unknown) => e,
      )) as { code: number; stderr: string };
      assert.notEqual(error.code, 0);
      assert.match(error.stderr, /PORT must be an integer from 0 to 65535 \(got "abc"\)/);
    } finally {
      await execFileAsync(join(ROOT, 'node_modules/.bin/pm2'), ['kill'], { env: { ...process.env, PM2_HOME: pm2Home } }).catch(() => undefined);
      rmSync(pm2Home, { recursive: true, force: true });
    }
  });

  it('the built entry refuses LOG_LEVEL=loud with one line naming it', async () => {
    const server = startStandalone({ PORT: '0', LOG_LEVEL: 'loud' });
    assert.equal(await server.exited, 1);
    assert.equal(server.output().trim().split('\n').length, 1);
    assert.match(server.output(), /^Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/);
  });
});

describe('error responses', () => {
  const servers: ReturnType<typeof startStandalone>[] = [];
  after(() => {
    for (const s of servers) s.child.kill('SIGKILL');
  });

  async function serve(env: Record<string, string> = {}): Promise<string> {
    const port = await freePort();
    servers.push(startStandalone({ PORT: String(port), BODY_LIMIT: '1kb', ...env }));
    const base = `http://127.0.0.1:${port}`;
    await waitFor('the instance to listen', async () => (await fetch(`${base}/health`)).ok);
    return base;
  }

  async function errorOf(res: Response) {
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    assert.deepEqual(Object.keys(body), ['error']);
    assert.equal(body.error.requestId, res.headers.get('x-request-id'));
    return body.error;
  }

  it('unknown route → 404, malformed JSON → 400, oversized body → 413, all in one JSON shape', async () => {
    const base = await serve();
    const missing = await fetch(`${base}/api/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await errorOf(missing)).code, 'NOT_FOUND');

    const malformed = await fetch(`${base}/api/rooms/lobby/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"body": ' });
    assert.equal(malformed.status, 400);
    assert.equal((await errorOf(malformed)).code, 'INVALID_JSON');

    const oversized = await fetch(`${base}/api/rooms/lobby/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'x'.repeat(4096) }) });
    assert.equal(oversized.status, 413);
    assert.equal((await errorOf(oversized)).code, 'PAYLOAD_TOO_LARGE');
  });

  it('a 500 shows its message in development and hides it in production', async () => {
    const dev = await fetch(`${await serve()}/api/debug/error`);
    assert.equal(dev.status, 500);
    assert.match((await errorOf(dev)).message, /Internal detail/);

    const prod = await fetch(`${await serve({ NODE_ENV: 'production', DEBUG_ROUTES: 'true' })}/api/debug/error`);
    assert.equal(prod.status, 500);
    const hidden = await errorOf(prod);
    assert.equal(hidden.code, 'INTERNAL_ERROR');
    assert.equal(hidden.message, 'Internal server error');
  });

  it('production does not mount the debug routes unless asked', async () => {
    const res = await fetch(`${await serve({ NODE_ENV: 'production' })}/api/debug/error`);
    assert.equal(res.status, 404);
  });
});

describe('npm run start:node-cluster (no PM2)', () => {
  it('answers from two worker pids, restarts a SIGKILLed worker and exits cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn('npm', ['run', '--silent', 'start:node-cluster'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CLUSTER_WORKERS: '2', DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, REDIS_KEY_PREFIX: `${uniqueName('t')}:` },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
    const base = `http://127.0.0.1:${port}`;
    const pids = async () => new Set((await sample<ClusterInfo>(base, '/api/cluster-info', 10)).map((i) => i.pid));
    try {
      const first = await waitFor('two worker pids', async () => ((await pids()).size === 2 ? await pids() : undefined), 60_000);
      const info = (await sample<ClusterInfo>(base, '/api/cluster-info', 1))[0];
      assert.equal(info?.processManager, 'node-cluster');
      assert.equal(info.instances, 2);

      const [victim] = [...first];
      process.kill(victim ?? 0, 'SIGKILL');
      const replaced = await waitFor('a replacement worker', async () => {
        const now = await pids();
        return now.size === 2 && !now.has(victim ?? 0) ? now : undefined;
      });
      assert.equal(replaced.size, 2);
      assert.match(output, /died \(signal SIGKILL\); restarting/);

      process.kill(child.pid ?? 0, 'SIGTERM');
      assert.equal(await exited, 0, output);
      for (const pid of replaced) assert.throws(() => process.kill(pid, 0), 'every worker is gone');
      assert.match(output, /All workers stopped; primary exiting/);
    } finally {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
});
