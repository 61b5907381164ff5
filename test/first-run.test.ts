import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pm2Process } from '../scripts/pm2.js';
import { runCommand, type CommandResult } from './helpers/process.js';
import { createTestDatabase, execFileAsync, freePort, ROOT, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

/**
 * The project started exactly as a newcomer starts it: `npm start` on a machine where PM2 has
 * never run (an empty HOME of its own, no PM2_HOME, so PM2 uses HOME/.pm2 and has to spawn its
 * daemon), then again; then what brings the cluster back when the daemon dies (`pm2
 * resurrect`, which `pm2 startup`'s boot script runs), and the classic PM2 guide's `ab` check.
 * Only the port, database and Redis prefix are this test's own.
 */

const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2');

type Run = CommandResult;

let home: string;
let db: TestDatabase;
let port: number;
let env: NodeJS.ProcessEnv;

function run(command: string, args: string[]): Promise<Run> {
  return runCommand(command, args, env);
}

async function online(): Promise<Pm2Process[]> {
  const { stdout } = await execFileAsync(PM2, ['jlist'], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
  return (JSON.parse(stdout) as Pm2Process[]).filter((p) => p.pm2_env.status === 'online');
}

const names = (procs: { name: string }[]) => procs.map((p) => p.name).sort();

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'epc-home-'));
  db = await createTestDatabase();
  port = await freePort();
  env = {
    ...process.env,
    PM2_HOME: undefined,
    HOME: home,
    PORT: String(port),
    HOST: '127.0.0.1',
    API_INSTANCES: '2',
    DATABASE_URL: db.url,
    REDIS_KEY_PREFIX: `${uniqueName('t')}:`,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
  };
});

after(async () => {
  // The daemon of this HOME (HOME/.pm2), whatever happened above.
  await execFileAsync(PM2, ['kill'], { cwd: ROOT, env }).catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
  await db.drop();
});

describe('npm start on a machine where PM2 never ran', () => {
  it('starts the API on 2 instances and the worker, the first time', async () => {
    assert.equal(existsSync(join(home, '.pm2')), false, 'no PM2 home yet');
    const first = await run('npm', ['start']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.ok(existsSync(join(home, '.pm2')), 'PM2 made its home in HOME/.pm2');
    assert.deepEqual(names(await online()), ['api', 'api', 'worker']);
    assert.equal((await fetch(`http://127.0.0.1:${port}/ready`)).status, 200);
  });

  it('and the second time', async () => {
    const second = await run('npm', ['start']);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.deepEqual(names(await online()), ['api', 'api', 'worker']);
  });

  it('saves what it started, and pm2 resurrect brings it back after the daemon dies', async (t) => {
    const dump = JSON.parse(readFileSync(join(home, '.pm2', 'dump.pm2'), 'utf8')) as { name: string }[];
    assert.deepEqual(names(dump), ['api', 'api', 'worker'], 'dump.pm2 holds the 2 API instances and the worker');

    assert.equal((await run(PM2, ['kill'])).code, 0);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`), 'nothing serves once the daemon is gone');
    const started = Date.now();
    const resurrect = await run(PM2, ['resurrect']);
    assert.equal(resurrect.code, 0, resurrect.stdout + resurrect.stderr);
    await waitFor('2 API instances answering /ready and the worker online', async () => {
      const procs = await online();
      if (names(procs).join() !== 'api,api,worker') return false;
      const ids = new Set<string>();
      for (let i = 0; i < 16 && ids.size < 2; i += 1) {
        const res = await fetch(`http://127.0.0.1:${port}/ready`, { headers: { connection: 'close' } });
        if (res.status === 200) ids.add(res.headers.get('x-instance-id') ?? '');
      }
      return ids.size === 2;
    }, 60_000, 250);
    t.diagnostic(`pm2 resurrect to both instances ready: ${Date.now() - started} ms`);
  });

  it('answers the classic PM2 guide\'s ab -n 1000 -c 10 .../api/health with 0 failed requests', async () => {
    const { stdout } = await execFileAsync('ab', ['-n', '1000', '-c', '10', `http://127.0.0.1:${port}/api/health`], { timeout: 120_000 });
    assert.match(stdout, /Complete requests:\s+1000\b/);
    assert.match(stdout, /Failed requests:\s+0\b/, stdout);
  });
});
