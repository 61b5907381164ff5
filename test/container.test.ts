import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnLogged, type LoggedProcess } from './helpers/process.js';
import { createTestDatabase, execFileAsync, freePort, ROOT, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

/**
 * The image's main command, run here as the image runs it (no Docker engine on this machine):
 * `node dist/scripts/pm2-runtime.js start ecosystem.config.cjs --env production` in the app
 * folder, with the image's environment, PM2_HOME under /tmp, and (when the tests run as root)
 * as an unprivileged user who cannot write to the app folder, like the read-only root
 * filesystem and non-root user of the Kubernetes pods.
 */
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** Whether `nobody` can read `path`: every folder above it must let others through too. */
function nobodyCanRead(path: string): boolean {
  return spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'test', '-r', path]).status === 0;
}

/** What the image's last stage holds (Dockerfile), to run from a copy where `nobody` can read it. */
const IMAGE_FILES = ['package.json', 'ecosystem.config.cjs', 'dist', 'node_modules', 'public', 'prisma'];

/**
 * A checkout `nobody` cannot reach (a clone under /root, or in a `mktemp -d` folder, 0700) is
 * copied, as the image's files, into a folder it can: hard links where the file system allows
 * (node_modules is 20 000 files), a copy otherwise. Files only their owner may read (a clone
 * made with umask 077) cannot be run by `nobody` from anywhere: the test says so and skips.
 */
const reachable = !asRoot || nobodyCanRead(join(ROOT, 'package.json'));
const worldReadable = (statSync(join(ROOT, 'package.json')).mode & 0o004) !== 0;
const skip = asRoot && !worldReadable ? 'the checkout\'s files are readable by their owner only (umask 077), so `nobody` cannot run them' : false;

function copyForNobody(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epc-app-'));
  chmodSync(dir, 0o755);
  for (const name of IMAGE_FILES) {
    const from = join(ROOT, name);
    if (spawnSync('cp', ['-al', from, dir]).status !== 0) execFileSync('cp', ['-a', from, dir]);
  }
  return dir;
}

describe('the container\'s command (pm2-runtime)', { skip }, () => {
  let db: TestDatabase;
  let appDir = ROOT;
  let pm2Home: string;
  let port: number;
  let runtime: LoggedProcess;

  before(async () => {
    if (!reachable) appDir = copyForNobody();
    db = await createTestDatabase({ migrated: true });
    pm2Home = mkdtempSync(join(tmpdir(), 'epc-pm2-'));
    if (asRoot) chownSync(pm2Home, NOBODY, NOBODY);
    port = await freePort();
    const env = {
      // The Dockerfile's ENV, with this test's own PM2_HOME and port.
      NODE_ENV: 'production',
      PORT: String(port),
      SHUTDOWN_TIMEOUT_MS: '16000',
      LOG_TO_FILES: 'false',
      PM2_HOME: pm2Home,
      HOME: '/nonexistent',
      // What a deployment sets.
      HOST: '127.0.0.1',
      API_INSTANCES: '2',
      DATABASE_URL: db.url,
      REDIS_KEY_PREFIX: `${uniqueName('t')}:`,
      JWT_SECRET: TEST_JWT_SECRET,
      // Every request line is logged: the test counts them on stdout (the budget is abuse-bounds' to test).
      LOG_LINES_PER_SECOND: '0',
    };
    const command = ['dist/scripts/pm2-runtime.js', 'start', 'ecosystem.config.cjs', '--env', 'production'];
    runtime = asRoot
      ? spawnLogged('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...command], { cwd: appDir, env, detached: true })
      : spawnLogged(process.execPath, command, { cwd: appDir, env, detached: true });
    await waitFor('both API instances and the worker to start', () => {
      const logs = runtime.logs();
      return logs.filter((l) => l.event === 'listening').length === 2 && logs.some((l) => l.event === 'worker-started');
    }, 60_000);
  });

  after(async () => {
    if (runtime.child.exitCode === null && runtime.child.pid) process.kill(-runtime.child.pid, 'SIGKILL');
    await execFileAsync(join(ROOT, 'node_modules/.bin/pm2'), ['kill'], { env: { ...process.env, PM2_HOME: pm2Home } }).catch(() => undefined);
    rmSync(pm2Home, { recursive: true, force: true });
    if (appDir !== ROOT) rmSync(appDir, { recursive: true, force: true });
    await db.drop();
  });

  it('serves from both instances', async () => {
    const ids = new Set<number>();
    await waitFor('answers from instance 0 and 1', async () => {
      const body = (await (await fetch(`http://127.0.0.1:${port}/api/cluster-info`, { headers: { connection: 'close' } })).json()) as { instanceId: number };
      ids.add(body.instanceId);
      return ids.size === 2;
    });
  });

  it('prints only JSON lines, PM2\'s own included, without a date prefix', () => {
    const logs = runtime.logs();
    assert.ok(logs.length > 10);
    for (const line of logs) assert.ok(typeof line.level === 'string' && typeof line.time === 'string' && typeof line.msg === 'string', JSON.stringify(line));
    const roles = new Set(logs.map((l) => l.role));
    assert.deepEqual([...roles].sort(), ['api', 'pm2', 'worker']);
    assert.ok(logs.some((l) => l.role === 'pm2' && /App \[api:\d+\] online/.test(l.msg)), 'PM2 reports each app online, as JSON');
  });

  it('keeps nothing but a few kilobytes in PM2_HOME (an emptyDir in Kubernetes), whatever the apps log', async () => {
    // 400 request lines of ~350 bytes: well over the limit below if PM2 wrote them to files.
    for (let i = 0; i < 40; i += 1) await Promise.all(Array.from({ length: 10 }, () => fetch(`http://127.0.0.1:${port}/api/status`)));
    await waitFor('the request lines on stdout', () => runtime.logs().filter((l) => l.req !== undefined).length >= 400);
    let bytes = 0;
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) bytes += statSync(path).size;
      }
    };
    walk(pm2Home);
    assert.ok(bytes < 64 * 1024, `${bytes} bytes in PM2_HOME`);
  });

  it('stops every app gracefully on SIGTERM and exits 0 before PM2\'s kill_timeout', async () => {
    const started = Date.now();
    runtime.child.kill('SIGTERM');
    const code = await runtime.exitWithin(30_000);
    assert.equal(code, 0, `pm2-runtime exited ${code}:\n${runtime.output().slice(-3000)}`);
    assert.ok(Date.now() - started < 19_000, 'within kill_timeout (SHUTDOWN_TIMEOUT_MS 16 s + 3 s)');
    const complete = runtime.logs().filter((l) => l.exitCode === 0);
    assert.deepEqual(complete.map((l) => l.role).sort(), ['api', 'api', 'worker'], 'each process finished its own shutdown with exit code 0');
    assert.equal(runtime.logs().filter((l) => l.level === 'error' || l.level === 'fatal').length, 0);
  });
});
