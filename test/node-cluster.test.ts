import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sample } from './helpers/cluster.js';
import { createTestDatabase, freePort, ROOT, sleep, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

/** `npm run start:node-cluster` with 2 API workers on `port`, in its own process group; output() is all it printed. */
function startNodeCluster(port: number) {
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
  return { child, exited, output: () => output };
}

describe('npm run start:node-cluster (no PM2)', () => {
  it('answers from two worker pids, restarts a SIGKILLed worker and exits cleanly on SIGTERM', async () => {
    const port = await freePort();
    const { child, exited, output } = startNodeCluster(port);
    const base = `http://127.0.0.1:${port}`;
    const pids = async () => new Set((await sample<{ pid: number; processManager: string; instances: number }>(base, '/api/cluster-info', 10)).map((i) => i.pid));
    try {
      const first = await waitFor('two worker pids', async () => ((await pids()).size === 2 ? await pids() : undefined), 60_000);
      const info = (await sample<{ pid: number; processManager: string; instances: number }>(base, '/api/cluster-info', 1))[0];
      assert.equal(info?.processManager, 'node-cluster');
      // The live count: each worker counts the other once it has seen its heartbeat.
      await waitFor('both workers counted by each', async () => (await sample<{ instances: number }>(base, '/api/cluster-info', 4)).every((i) => i.instances === 2));

      const [victim] = [...first];
      process.kill(victim ?? 0, 'SIGKILL');
      const replaced = await waitFor('a replacement worker', async () => {
        const now = await pids();
        return now.size === 2 && !now.has(victim ?? 0) ? now : undefined;
      });
      assert.equal(replaced.size, 2);
      assert.match(output(), /died \(signal SIGKILL\); restarting/);
      assert.match(output(), /"event":"worker-started"/, 'the background worker runs too');

      process.kill(child.pid ?? 0, 'SIGTERM');
      assert.equal(await exited, 0, output());
      for (const pid of replaced) assert.throws(() => process.kill(pid, 0), 'every worker is gone');
      assert.match(output(), /All workers stopped; primary exiting/);
      assert.match(output(), /Background worker exited \(code 0\)/);
    } finally {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
});

describe('npm run start:node-cluster on a port that is taken', () => {
  it('stops with the cannot-listen error instead of restarting its workers in a loop', async () => {
    const squatter = createServer();
    const port = await new Promise<number>((resolve) => squatter.listen(0, '127.0.0.1', () => { resolve((squatter.address() as AddressInfo).port); }));
    const { child, exited, output } = startNodeCluster(port);
    try {
      const code = await Promise.race([exited, sleep(60_000).then(() => 'still running')]);
      assert.equal(code, 1, output());
      assert.match(output(), /Cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
      assert.match(output(), /cannot listen on 127\.0\.0\.1:\d+ \(is the port in use\?/);
      assert.doesNotMatch(output(), /Worker \d+ died/, 'no restart');
    } finally {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
      squatter.close();
    }
  });
});
