import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from './helpers/api.js';
import { createTestDatabase, type TestDatabase } from './helpers/services.js';

let db: TestDatabase;
const apis: TestApi[] = [];
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  for (const api of apis) await api.stop();
  await db.drop();
});

async function serve(env: Record<string, string> = {}): Promise<TestApi> {
  const api = await startTestApi(db.url, { BODY_LIMIT: '1kb', ...env });
  apis.push(api);
  return api;
}

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.requestId, res.headers.get('x-request-id'));
  return body.error;
}

describe('error responses share one JSON shape', () => {
  let api: TestApi;
  before(async () => {
    api = await serve();
  });

  it('an unknown route is 404 NOT_FOUND', async () => {
    const res = await fetch(`${api.url}/api/nope`);
    assert.equal(res.status, 404);
    assert.equal((await errorOf(res)).code, 'NOT_FOUND');
  });

  it('malformed JSON is 400 INVALID_JSON', async () => {
    const res = await fetch(`${api.url}/api/rooms/lobby/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"body": ' });
    assert.equal(res.status, 400);
    assert.equal((await errorOf(res)).code, 'INVALID_JSON');
  });

  it('a body over BODY_LIMIT is 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await fetch(`${api.url}/api/rooms/lobby/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: 'x'.repeat(4096) }) });
    assert.equal(res.status, 413);
    assert.equal((await errorOf(res)).code, 'PAYLOAD_TOO_LARGE');
  });
});

describe('programmer errors', () => {
  it('a 500 shows its message in development', async () => {
    const res = await fetch(`${(await serve()).url}/api/debug/error`);
    assert.equal(res.status, 500);
    assert.match((await errorOf(res)).message, /Internal detail/);
  });

  it('a 500 hides its message in production, and the log keeps it with the request id', async () => {
    const api = await serve({ NODE_ENV: 'production', DEBUG_ROUTES: 'true' });
    const res = await fetch(`${api.url}/api/debug/error`);
    assert.equal(res.status, 500);
    const hidden = await errorOf(res);
    assert.equal(hidden.code, 'INTERNAL_ERROR');
    assert.equal(hidden.message, 'Internal server error');
    const logged = api.logs.filter((l) => l.req?.id === hidden.requestId);
    const [line] = logged;
    assert.ok(line && logged.length === 1, 'logged once');
    assert.equal(line.level, 'error');
    assert.match(JSON.stringify(line.err), /Internal detail/);
  });

  it('a 4xx line names its error by type, code and message, without our stack frames; a 5xx line keeps its stack', async () => {
    const api = await serve({ DEBUG_ROUTES: 'true' });
    const missing = await errorOf(await fetch(`${api.url}/no/such/route`));
    const failed = await errorOf(await fetch(`${api.url}/api/debug/error`));
    const lineOf = (requestId: string) => api.logs.find((l) => l.req?.id === requestId);
    const notFound = lineOf(missing.requestId);
    assert.equal(notFound?.level, 'warn');
    assert.deepEqual(notFound.err, { type: 'AppError', code: 'NOT_FOUND', message: missing.message });
    assert.match(String((lineOf(failed.requestId)?.err as { stack?: unknown } | undefined)?.stack), /Internal detail[\s\S]*\n\s+at /);
  });

  it('logs the probes at debug whatever their spelling (/HEALTH, /health/, /api/ready), and the client address TRUST_PROXY gives', async () => {
    const api = await serve({ LOG_LEVEL: 'debug', TRUST_PROXY: '1' });
    for (const path of ['/HEALTH', '/health/', '/api/ready', '/api/status']) await fetch(`${api.url}${path}`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const levels = Object.fromEntries(api.logs.filter((l) => l.req).map((l) => [(l.req as { url: string }).url, l.level]));
    assert.deepEqual(levels, { '/HEALTH': 'debug', '/health/': 'debug', '/api/ready': 'debug', '/api/status': 'info' });
    assert.ok(api.logs.filter((l) => l.req).every((l) => (l.req as { remoteAddress?: string }).remoteAddress === '203.0.113.7'));
  });

  it('production does not mount the debug routes unless asked', async () => {
    const res = await fetch(`${(await serve({ NODE_ENV: 'production' })).url}/api/debug/error`);
    assert.equal(res.status, 404);
  });
});
