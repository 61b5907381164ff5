import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import helmet from 'helmet';
import { HELMET_OPTIONS } from '../src/http/security-headers.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { createTestDatabase, type TestDatabase } from './helpers/services.js';

/**
 * The app sets helmet's headers from a list read once at start (src/http/security-headers.ts).
 * Every kind of response must carry exactly what helmet's own middleware sets, so a helmet
 * upgrade or an option change cannot drift from it unnoticed.
 */

let db: TestDatabase;
let api: TestApi;
let helmetHeaders: Map<string, string>;
before(async () => {
  db = await createTestDatabase({ migrated: true });
  api = await startTestApi(db.url, { BODY_LIMIT: '1kb' });
  // What helmet's middleware itself sets, on a plain Express app with the app's options.
  const reference = express();
  reference.disable('x-powered-by');
  reference.use(helmet(HELMET_OPTIONS));
  reference.get('/', (_req, res) => { res.end(); });
  const server = reference.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const plain = new Set(['content-length', 'date', 'connection', 'keep-alive']);
    helmetHeaders = new Map([...res.headers].filter(([name]) => !plain.has(name)));
  } finally {
    server.close();
  }
});
after(async () => {
  await api.stop();
  await db.drop();
});

function assertHelmetHeaders(res: Response): void {
  for (const [name, value] of helmetHeaders) assert.equal(res.headers.get(name), value, `${res.url} ${res.status}: ${name}`);
  assert.equal(res.headers.get('x-powered-by'), null);
}

describe("helmet's security headers", () => {
  it('helmet sets the headers the app relies on (the reference is not empty)', () => {
    for (const name of ['content-security-policy', 'strict-transport-security', 'x-content-type-options', 'x-frame-options']) {
      assert.ok(helmetHeaders.has(name), name);
    }
    assert.doesNotMatch(helmetHeaders.get('content-security-policy') ?? '', /upgrade-insecure-requests/);
  });

  it('are on probes, API routes, the page, 404s and refused bodies, exactly as helmet sets them', async () => {
    const responses = [
      await fetch(`${api.url}/health`),
      await fetch(`${api.url}/api/status`),
      await fetch(`${api.url}/`),
      await fetch(`${api.url}/api/nope`),
      await fetch(`${api.url}/api/rooms/lobby/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":' }),
    ];
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 404, 400]);
    for (const res of responses) {
      assertHelmetHeaders(res);
      await res.arrayBuffer();
    }
  });
});
