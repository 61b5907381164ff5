import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { SignJWT } from 'jose';
import { createTokenService } from '../src/auth/jwt.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { connect, emitRaw, join, type TestSocket } from './helpers/realtime.js';
import { adminQuery, createTestDatabase, freePort, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

/**
 * Input a hostile or careless client sends is refused with the documented 4xx and code, in
 * the common error shape; nothing is stored; nothing is logged as a server error; the
 * instance keeps serving.
 */

const tokens = createTokenService(TEST_JWT_SECRET);
let db: TestDatabase;
let api: TestApi;
let token: string;
const sockets: TestSocket[] = [];
before(async () => {
  db = await createTestDatabase({ migrated: true });
  api = await startTestApi(db.url);
  token = await tokens.sign('alice');
});
after(async () => {
  for (const socket of sockets) socket.close();
  await api.stop();
  await db.drop();
});

async function storedRows(): Promise<number> {
  return Number((await adminQuery<{ n: string }>('SELECT count(*) AS n FROM messages', [], db.url))[0]?.n);
}

interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: { field: string; message: string }[] };
}

/** Sends a request and checks the answer is the given 4xx in the common shape; returns the error. */
async function refused(res: Response, status: number, code: string): Promise<ErrorBody['error']> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  const body = JSON.parse(text) as ErrorBody;
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, code, text);
  assert.equal(body.error.requestId, res.headers.get('x-request-id'));
  return body.error;
}

function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}
const write = (body: unknown, auth = token) => post('/api/rooms/lobby/messages', JSON.stringify(body), { authorization: `Bearer ${auth}` });

function serverErrors(): unknown[] {
  return api.logs.filter((l) => l.level === 'error' || l.level === 'fatal');
}

describe('HTTP input that does not fit the columns is refused before the database', () => {
  let rowsBefore: number;
  before(async () => {
    rowsBefore = await storedRows();
  });
  after(async () => {
    assert.equal(await storedRows(), rowsBefore, 'nothing was stored');
    assert.deepEqual(serverErrors(), [], 'no request was logged as a server error');
  });

  it('a cursor past int4 (before=2147483648) is 400 naming query.before, not 503', async () => {
    const error = await refused(await fetch(`${api.url}/api/rooms/lobby/messages?before=2147483648`), 400, 'VALIDATION_FAILED');
    assert.deepEqual(error.details, [{ field: 'query.before', message: 'must be a message id from 1 to 2147483647' }]);
    assert.equal((await fetch(`${api.url}/api/rooms/lobby/messages?before=2147483647`)).status, 200);
    for (const bad of ['-1', '0', '1.5', '1e3', 'abc', '', '99999999999999999999']) {
      await refused(await fetch(`${api.url}/api/rooms/lobby/messages?before=${bad}`), 400, 'VALIDATION_FAILED');
    }
    await refused(await fetch(`${api.url}/api/rooms/lobby/messages?before=1&before=2`), 400, 'VALIDATION_FAILED');
  });

  it('a body with NUL is 400 naming body.body, not 503', async () => {
    const error = await refused(await write({ body: 'a\u0000b' }), 400, 'VALIDATION_FAILED');
    assert.deepEqual(error.details, [{ field: 'body.body', message: 'must not contain NUL (\\u0000) characters' }]);
  });

  it('a body with an unpaired surrogate is 400, not silently replaced', async () => {
    const res = await post('/api/rooms/lobby/messages', '{"body":"ok \\ud800 then"}', { authorization: `Bearer ${token}` });
    const error = await refused(res, 400, 'VALIDATION_FAILED');
    assert.match(error.message, /body\.body must be valid Unicode/);
  });

  it('a body of invisible characters only ("\\u200b\\u200b", BOM, soft hyphen, Hangul filler) is "must not be empty"', async () => {
    for (const body of ['\u200b\u200b', '\ufeff', '\u00ad', '\u3164', ' \u200d\t\n']) {
      const error = await refused(await write({ body }), 400, 'VALIDATION_FAILED');
      assert.deepEqual(error.details, [{ field: 'body.body', message: 'must not be empty' }], JSON.stringify(body));
    }
  });

  it('a missing or mistyped body names the field: "is required", "must be a string", "must be a JSON object"', async () => {
    assert.deepEqual((await refused(await write({}), 400, 'VALIDATION_FAILED')).details, [{ field: 'body.body', message: 'is required' }]);
    assert.deepEqual((await refused(await write({ body: 5 }), 400, 'VALIDATION_FAILED')).details, [{ field: 'body.body', message: 'must be a string' }]);
    assert.deepEqual((await refused(await write(['x']), 400, 'VALIDATION_FAILED')).details, [{ field: 'body', message: 'must be a JSON object such as {"body": "hello"}' }]);
  });

  it('a body over 2000 characters is refused, and 2000 emoji (4000 UTF-16 units) is not: lengths count as the column does', async () => {
    await refused(await write({ body: 'x'.repeat(2001) }), 400, 'VALIDATION_FAILED');
    const emoji = await fetch(`${api.url}/api/rooms/emoji/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ body: '😀'.repeat(2000) }) });
    assert.equal(emoji.status, 201);
    rowsBefore += 1;
  });

  it('a malformed percent-encoding in the path (/api/rooms/%zz/messages) is 400 INVALID_URL, not 500', async () => {
    await refused(await fetch(`${api.url}/api/rooms/%zz/messages`), 400, 'INVALID_URL');
    await refused(await post('/api/rooms/%E0%A4%A/messages', '{"body":"x"}', { authorization: `Bearer ${token}` }), 400, 'INVALID_URL');
  });

  for (const [encoding, valid] of [
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const) {
    it(`a body declared ${encoding} that does not decode is 400 INVALID_BODY_ENCODING on any route, /health included; a valid one is read`, async () => {
      for (const path of ['/health', '/api/rooms/lobby/messages', '/api/nope']) {
        await refused(await post(path, 'not compressed at all', { 'content-encoding': encoding, authorization: `Bearer ${token}` }), 400, 'INVALID_BODY_ENCODING');
      }
      const ok = await post('/api/rooms/encoded/messages', valid(Buffer.from(JSON.stringify({ body: `sent as ${encoding}` }))), { 'content-encoding': encoding, authorization: `Bearer ${token}` });
      assert.equal(ok.status, 201);
      rowsBefore += 1;
    });
  }

  it('a compressed body that decodes past BODY_LIMIT (a zip bomb) is 413, however small it arrives', async () => {
    const bomb = gzipSync(Buffer.from(JSON.stringify({ body: ' '.repeat(5_000_000) })));
    assert.ok(bomb.length < 10_000);
    await refused(await post('/api/rooms/lobby/messages', bomb, { 'content-encoding': 'gzip', authorization: `Bearer ${token}` }), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('an unknown Content-Encoding is 415 UNSUPPORTED_ENCODING and an unknown charset 415 UNSUPPORTED_CHARSET', async () => {
    await refused(await post('/api/rooms/lobby/messages', '{}', { 'content-encoding': 'zip9' }), 415, 'UNSUPPORTED_ENCODING');
    await refused(await post('/api/rooms/lobby/messages', '{}', { 'content-type': 'application/json; charset=latin9' }), 415, 'UNSUPPORTED_CHARSET');
  });
});

describe('tokens', () => {
  const key = new TextEncoder().encode(TEST_JWT_SECRET);
  let rowsBefore: number;
  before(async () => {
    rowsBefore = await storedRows();
  });
  after(async () => {
    assert.equal(await storedRows(), rowsBefore, 'nothing was stored');
    assert.deepEqual(serverErrors(), []);
  });

  it('a token whose sub is longer than messages.author (128) is 401 naming the claim, not 503', async () => {
    const error = await refused(await write({ body: 'hi' }, await tokens.sign('x'.repeat(129))), 401, 'UNAUTHORIZED');
    assert.equal(error.message, 'Token subject (sub) must be at most 128 characters');
    assert.equal((await write({ body: 'hi' }, await tokens.sign('y'.repeat(128)))).status, 201);
    rowsBefore += 1;
  });

  it('a token whose sub holds NUL, or is only invisible characters, is 401', async () => {
    await refused(await write({ body: 'hi' }, await tokens.sign('a\u0000b')), 401, 'UNAUTHORIZED');
    await refused(await write({ body: 'hi' }, await tokens.sign('\u200b')), 401, 'UNAUTHORIZED');
  });

  it('a token without exp is 401 "Token has no expiry (exp)", over HTTP and Socket.IO', async () => {
    const forever = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setIssuedAt().sign(key);
    assert.equal((await refused(await write({ body: 'hi' }, forever), 401, 'UNAUTHORIZED')).message, 'Token has no expiry (exp)');
    await assert.rejects(connect(api.url, forever), /Token has no expiry \(exp\)/);
  });

  it('JWT_MAX_TTL (24 h) and a 60 s clock skew: a token dated ahead, not valid yet, or living too long is 401 with its reason, over HTTP and Socket.IO', async () => {
    const now = Math.floor(Date.now() / 1000);
    const signed = (claims: { iat?: number; nbf?: number; exp: number }) => {
      const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime(claims.exp);
      if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
      if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
      return jwt.sign(key);
    };
    const refusals: [string, Promise<string>][] = [
      ['Token is issued in the future (iat is more than 60 s ahead)', signed({ iat: now + 1800, exp: now + 3600 })],
      ['Token is not valid yet (nbf is more than 60 s ahead)', signed({ iat: now, nbf: now + 1800, exp: now + 3600 })],
      ['Token lives longer than the maximum of 86400 s (exp - iat)', signed({ iat: now, exp: 32_503_680_000 })], // the year 3000
      ['Token lives longer than the maximum of 86400 s (exp - iat)', signed({ exp: now + 86_400 + 120 })], // no iat: counted from now
    ];
    for (const [message, jwt] of refusals) {
      const res = await write({ body: 'hi' }, await jwt);
      assert.equal(res.headers.get('cache-control'), 'no-store', 'a refusal is not stored either');
      assert.equal((await refused(res, 401, 'UNAUTHORIZED')).message, message);
    }
    const [, farFuture] = refusals[0] ?? [];
    await assert.rejects(connect(api.url, await (farFuture ?? '')), /Token is issued in the future/);
    // Within the skew, and exactly the maximum lifetime, are accepted.
    const accepted = await write({ body: 'hi' }, await signed({ iat: now + 30, nbf: now + 30, exp: now + 30 + 86_400 }));
    assert.equal(accepted.status, 201);
    assert.equal(accepted.headers.get('cache-control'), 'no-store', 'an answer to an authenticated write is never stored');
    rowsBefore += 1;
  });
});

describe('Socket.IO events a hostile client sends', () => {
  let client: TestSocket;
  before(async () => {
    client = (await connect(api.url, token)).socket;
    sockets.push(client);
  });

  it('join or leave without an acknowledgement callback neither crashes the instance nor fails: the join happens', async () => {
    const raw = client as unknown as { emit(e: string, ...a: unknown[]): void };
    raw.emit('join', { room: 'noack' });
    raw.emit('leave');
    raw.emit('join', 'not an object');
    raw.emit('join', null);
    // The same connection still works, and the room joined without an ack was joined.
    assert.deepEqual(await join(client, 'noack'), { ok: true });
    assert.equal((await fetch(`${api.url}/health`)).status, 200);
  });

  it('join {} answers "room is required" with the field named, as HTTP does', async () => {
    assert.deepEqual(await emitRaw(client, 'join', {}), {
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: 'Invalid join payload: room is required', details: [{ field: 'room', message: 'is required' }] },
    });
    assert.deepEqual(await emitRaw(client, 'leave', { room: 7 }), {
      ok: false,
      error: { code: 'VALIDATION_FAILED', message: 'Invalid leave payload: room must be a string', details: [{ field: 'room', message: 'must be a string' }] },
    });
    assert.deepEqual(await emitRaw(client, 'join', 'lobby'), {
      ok: false,
      error: {
        code: 'VALIDATION_FAILED',
        message: 'Invalid join payload: payload must be an object such as {"room": "lobby", "after": 42}',
        details: [{ field: 'payload', message: 'must be an object such as {"room": "lobby", "after": 42}' }],
      },
    });
  });

  it('extra arguments, and unknown events with an ack, get a clear error; without an ack they are dropped', async () => {
    const extra = await emitRaw(client, 'join', { room: 'a' }, 'surplus');
    assert.deepEqual(extra, {
      ok: false,
      error: {
        code: 'VALIDATION_FAILED',
        message: 'Invalid join event: payload must be one argument (an object), then an optional acknowledgement callback',
        details: [{ field: 'payload', message: 'must be one argument (an object), then an optional acknowledgement callback' }],
      },
    });
    const unknown = await emitRaw(client, 'delete-everything', { all: true });
    assert.deepEqual(unknown, { ok: false, error: { code: 'UNKNOWN_EVENT', message: 'Unknown event "delete-everything"; this server handles join, leave' } });
    (client as unknown as { emit(e: string, ...a: unknown[]): void }).emit('delete-everything');
    assert.deepEqual(await join(client, 'still-here'), { ok: true });
  });

  it('a message over SOCKET_MAX_PAYLOAD_BYTES closes that connection only', async () => {
    const big = (await connect(api.url, token)).socket;
    sockets.push(big);
    const closed = new Promise<string>((resolve) => big.once('disconnect', resolve));
    (big as unknown as { emit(e: string, ...a: unknown[]): void }).emit('join', { room: 'x'.repeat(64 * 1024) });
    assert.equal(await closed, 'transport close');
    big.close();
    assert.deepEqual(await join(client, 'lobby'), { ok: true });
  });

  it('none of it was logged as an error', () => {
    assert.deepEqual(serverErrors(), []);
  });
});

describe('polling refused however the query is written', () => {
  for (const query of [
    'EIO=4&transport=polling',
    'EIO=4&transport=websocket&transport=polling',
    'EIO=4&transport=polling&transport=polling',
    'EIO=4&transport=%70olling',
    'EIO=4&transport=websocket%26transport%3Dpolling',
    'EIO=4',
  ]) {
    it(`/socket.io/?${query} opens no polling session`, async () => {
      const res = await fetch(`${api.url}/socket.io/?${query}`);
      const text = await res.text();
      assert.ok(res.status === 403 || res.status === 400, `${res.status} ${text}`);
      assert.doesNotMatch(text, /"sid"/, 'no session was opened');
    });
  }
});

describe('/ready in production', () => {
  it('names the dependency that is down, never its address or the driver text', async () => {
    const port = await freePort();
    const prod = await startTestApi(`postgresql://postgres@127.0.0.1:${port}/nowhere`, { NODE_ENV: 'production' });
    try {
      // Redis may still be connecting in the first moments; the database never will.
      const [res, text] = await waitFor('/ready with Redis up and the database down', async () => {
        const answer = await fetch(`${prod.url}/ready`);
        const body = await answer.text();
        return body.includes('"redis":{"status":"ok"') ? ([answer, body] as const) : undefined;
      });
      assert.equal(res.status, 503);
      const body = JSON.parse(text) as { status: string; checks: Record<string, { status: string; error?: string }> };
      assert.equal(body.status, 'unavailable');
      assert.equal(body.checks.database?.status, 'error');
      assert.equal(body.checks.database.error, 'unavailable');
      assert.equal(body.checks.redis?.status, 'ok');
      assert.doesNotMatch(text, new RegExp(`127\\.0\\.0\\.1|${port}|ECONNREFUSED|reach`));
      // The operator gets the detail in the log (once the start-up grace is over).
      await waitFor('the outage to be logged with its detail', async () => {
        await (await fetch(`${prod.url}/ready`)).text();
        return prod.logs.some((l) => l.event === 'dependency-down' && String(l.reason).includes(String(port)));
      });
    } finally {
      await prod.stop();
    }
  });
});

describe('slow clients', () => {
  it('a request whose body has not arrived within REQUEST_TIMEOUT_MS gets 408 and its connection closed', async () => {
    const slow = await startTestApi(db.url, { REQUEST_TIMEOUT_MS: '1000' });
    try {
      const { port } = slow.address;
      const started = Date.now();
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/rooms/lobby/messages', headers: { 'content-type': 'application/json', 'content-length': '100' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('{"bo');
      });
      assert.equal(status, 408);
      assert.ok(Date.now() - started < 5000, 'cut off within about a second of the timeout');
    } finally {
      await slow.stop();
    }
  });
});
