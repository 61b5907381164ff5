import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import { applyMigrations, MIGRATIONS_DIR } from '../src/data/migrator.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { privatePostgres, type PrivatePostgres } from './helpers/postgres.js';
import { adminQuery, TEST_JWT_SECRET, waitFor } from './helpers/services.js';
import { postMessage } from './helpers/realtime.js';

const tokens = createTokenService(TEST_JWT_SECRET);

interface ReadyBody {
  status: string;
  checks: Record<string, { status: string; outage?: string }>;
}

describe('PostgreSQL outage (a private server the test stops and starts again)', () => {
  let postgres: PrivatePostgres;
  let api: TestApi;
  before(async () => {
    postgres = await privatePostgres();
    await postgres.start();
    await adminQuery('CREATE DATABASE app', [], postgres.adminUrl);
    await applyMigrations(postgres.urlOf('app'), MIGRATIONS_DIR);
    api = await startTestApi(postgres.urlOf('app'), { DB_POOL_TIMEOUT_MS: '1000' });
  });
  after(async () => {
    await api.stop();
    await postgres.destroy();
  });

  const ready = async () => {
    const res = await fetch(`${api.url}/ready`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: (await res.json()) as ReadyBody };
  };
  const post = async (body: string) =>
    postMessage(api.url, 'outage', { body }, await tokens.sign('pat'), { timeoutMs: 10_000 });

  it('answers 503 while it is down, with /ready still 200 but naming the database, and serves again once it is back, in the same process', async () => {
    await waitFor('ready', async () => (await ready()).status === 200);
    assert.equal((await post('before')).status, 201);

    await postgres.stop();
    // No other instance reaches the database: the outage counts as shared and the instance stays in rotation.
    const down = await waitFor('/ready to name the database', async () => {
      const answer = await ready();
      return answer.body.checks.database?.status === 'error' ? answer : undefined;
    });
    assert.equal(down.status, 200);
    assert.equal(down.body.status, 'degraded');
    assert.deepEqual([down.body.checks.database?.status, down.body.checks.database?.outage, down.body.checks.redis?.status], ['error', 'shared', 'ok']);
    const read = await fetch(`${api.url}/api/rooms/outage/messages`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(read.status, 503);
    assert.match(((await read.json()) as { error: { code: string } }).error.code, /^DATABASE_(UNAVAILABLE|BUSY|TIMEOUT)$/);
    assert.equal((await post('during')).status, 503);
    assert.equal((await fetch(`${api.url}/health`)).status, 200, 'liveness does not depend on the database');

    await postgres.start();
    await waitFor('/ready to be ok again', async () => (await ready()).body.status === 'ok', 30_000);
    assert.equal((await post('after')).status, 201);
    const page = (await (await fetch(`${api.url}/api/rooms/outage/messages`)).json()) as { messages: { body: string }[] };
    assert.deepEqual(page.messages.map((m) => m.body), ['after', 'before']);
    const events = api.logs.filter((l) => l.dependency === 'database').map((l) => l.event);
    assert.deepEqual(events, ['dependency-down', 'dependency-up']);
  });
});
