import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
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
function startStandalone(env: Record<string, string>, entry = ['dist/src/main.js']) {
  const child = spawn(process.execPath, entry, {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, REDIS_KEY_PREFIX: `${uniqueName('t')}:`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  // The log lines among the output (stdout is JSON lines; stderr may hold Node's own text).
  const logs = () => output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: string; event?: string; [field: string]: unknown });
  return { child, exited, output: () => output, logs, events: () => logs().map((l) => l.event) };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The connection it came over, and whether the agent had used it before. */
  socket: Socket;
  reused: boolean;
}

/** GET with node:http, so the test sees (and, with `agent`, chooses) the connection a request goes over. */
function get(port: number, path: string, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: agent ?? false, timeout: 10_000 }, (res) => {
      const socket = req.socket as Socket;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket, reused: req.reusedSocket }); });
    });
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

/** Waits until the instance is serving at least `n` requests besides the scrape that asks (its in-flight gauge). */
async function waitInFlight(port: number, n: number): Promise<void> {
  await waitFor(`${n} request(s) in flight`, async () => {
    const metrics = await get(port, '/metrics');
    const value = /^http_requests_in_flight\{[^}]*\} (\d+)$/m.exec(metrics.body)?.[1];
    return Number(value) - 1 >= n;
  }, 10_000, 50);
}

/** Resolves with the error a new TCP connection gets, or undefined if it is accepted. */
function tryConnect(port: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', resolve);
  });
}

describe('graceful shutdown of one instance', () => {
  it('on SIGINT: /ready says shutting_down over an open keep-alive connection and tells it to close, new connections are refused, the in-flight request is answered, exit 0', async () => {
    const port = await freePort();
    const server = startStandalone({ PORT: String(port) });
    // One connection of the test's own: the agent keeps a single socket and reuses it.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await waitFor('the instance to listen', async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
      const first = await get(port, '/ready', agent);
      assert.equal(first.status, 200);
      assert.equal(first.headers.connection, 'keep-alive');
      const kept = first.socket;
      const closed = new Promise((resolve) => kept.once('close', resolve));

      const slow = get(port, '/api/debug/delay?ms=2000');
      await waitInFlight(port, 1);
      server.child.kill('SIGINT');
      // Before the signal is handled /ready answers 200 and keeps the connection; the first
      // answer after it is the one under test.
      const answers: Answer[] = [];
      const draining = await waitFor('/ready to answer 503 on the kept connection', async () => {
        const answer = await get(port, '/ready', agent);
        answers.push(answer);
        return answer.status === 503 ? answer : undefined;
      }, 10_000, 20);
      assert.ok(answers.every((a) => a.socket === kept && a.reused), 'every /ready went over the first connection');
      assert.equal((JSON.parse(draining.body) as { status: string }).status, 'shutting_down');
      assert.equal(draining.headers.connection, 'close');
      await closed;
      assert.match(String(await tryConnect(port)), /ECONNREFUSED/, 'a new connection is refused');

      const res = await slow;
      assert.equal(res.status, 200);
      assert.equal((JSON.parse(res.body) as { delayedMs: number }).delayedMs, 2000);
      assert.equal(await server.exited, 0, server.output());
      assert.ok(server.events().includes('shutdown-complete'), server.output());
    } finally {
      agent.destroy();
      server.child.kill('SIGKILL');
    }
  });

  it('a second SIGTERM during a slow drain exits 1 at once, cutting off the request the drain waited for', async () => {
    const port = await freePort();
    // Long enough that only the second signal can end the stop before the request does.
    const server = startStandalone({ PORT: String(port), SHUTDOWN_TIMEOUT_MS: '120000' });
    try {
      await waitFor('the instance to listen', async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
      const slow = get(port, '/api/debug/delay?ms=30000').then(
        () => 'answered',
        (error: unknown) => String(error),
      );
      await waitInFlight(port, 1);
      server.child.kill('SIGTERM');
      await waitFor('the drain to begin', () => server.events().includes('shutdown-started'), 10_000, 20);
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 1, server.output());
      assert.match(await slow, /socket hang up|ECONNRESET/);
      assert.deepEqual(server.logs().filter((l) => l.event === 'signal-repeated').map((l) => [l.level, l.signal]), [['warn', 'SIGTERM']]);
      assert.ok(!server.events().includes('shutdown-complete'), 'the graceful stop did not finish');
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('shuts down and exits 1 on an unhandled promise rejection', async () => {
    const server = startStandalone({ PORT: '0' }, ['--import', 'tsx', 'test/fixtures/unhandled-rejection.ts']);
    try {
      assert.equal(await server.exited, 1, server.output());
      // Node's own default would exit 1 too, without a graceful stop: the events show ours ran.
      assert.ok(server.logs().some((l) => l.event === 'unhandled-rejection' && l.level === 'fatal'), server.output());
      assert.deepEqual(server.logs().filter((l) => l.event === 'shutdown-complete').map((l) => l.exitCode), [1], server.output());
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
