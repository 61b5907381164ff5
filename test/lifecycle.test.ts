import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, execFileAsync, freePort, ROOT, TEST_JWT_SECRET, uniqueName, waitFor, type TestDatabase } from './helpers/services.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

/** Runs the built API entry on its own (no process manager), as PM2 would run one instance. */
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
  // The log lines among the output (stdout is JSON lines; stderr may hold Node's own text).
  const logs = () => output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: string; event?: string });
  return { child, exited, output: () => output, logs, events: () => logs().map((l) => l.event) };
}

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
      assert.ok(server.events().includes('shutdown-complete'), server.output());
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
      assert.ok(server.logs().some((l) => l.event === 'uncaught-exception' && l.level === 'fatal'), server.output());
      assert.ok(server.events().includes('shutdown-complete'), server.output());
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
