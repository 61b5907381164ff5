import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Express } from 'express';
import { createTokenService } from '../src/auth/jwt.js';
import { openApiPath, type OpenApiDocument } from '../src/http/openapi.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { collect, connect, emitRaw, type TestSocket } from './helpers/realtime.js';
import { createTestDatabase, ROOT, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

/**
 * /openapi.json is the API's contract: every route the app serves is in it and everything in
 * it is served, and what the app really answers (and emits on Socket.IO) validates against
 * it, checked with a JSON Schema validator (draft 2020-12) as any client of the document would.
 */

const tokens = createTokenService(TEST_JWT_SECRET);

let db: TestDatabase;
let api: TestApi;
let production: TestApi;
let doc: OpenApiDocument;
let token: string;
const sockets: TestSocket[] = [];
before(async () => {
  db = await createTestDatabase({ migrated: true });
  // Outside production every router is mounted: the debug routes and the development sign-in too.
  api = await startTestApi(db.url);
  production = await startTestApi(db.url, { NODE_ENV: 'production' });
  doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as OpenApiDocument;
  token = await tokens.sign('contract');
});
after(async () => {
  for (const socket of sockets) socket.close();
  await api.stop();
  await production.stop();
  await db.drop();
});

type JsonSchema = Record<string, unknown>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}

// Formats are not checked: zod writes a pattern beside each `format` it emits.
const ajv = new Ajv2020({ strict: true, validateFormats: false, allErrors: true });

function schemaOf(schema: JsonSchema): JsonSchema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const name = /^#\/components\/schemas\/(\w+)$/.exec(ref)?.[1];
  const component = name ? (doc.components as { schemas: Record<string, JsonSchema> }).schemas[name] : undefined;
  assert.ok(component, `unresolvable ${ref}`);
  return component;
}

function assertValid(schema: JsonSchema, value: unknown, what: string): void {
  const validate = ajv.compile(schemaOf(schema));
  assert.ok(validate(value), `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`);
}

/** `GET /api/rooms/{room}/messages` for every route the Express app has (Express 5's router stack). */
function expressRoutes(app: Express): string[] {
  interface Layer {
    route?: { path: string | string[]; methods: Record<string, boolean | undefined> };
    handle: { stack?: Layer[] };
    slash: boolean;
    rawPath: unknown;
  }
  const found: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = typeof layer.route.path === 'string' ? [layer.route.path] : layer.route.path;
        for (const path of paths) for (const [method, on] of Object.entries(layer.route.methods)) if (on) found.push(`${method.toUpperCase()} ${openApiPath(path)}`);
      } else if (layer.handle.stack) {
        // Every router is mounted at the root (app.ts); one mounted below a path would need its prefix here.
        assert.ok(layer.slash, `a router mounted at ${String(layer.rawPath)}: teach expressRoutes its prefix`);
        walk(layer.handle.stack);
      }
      // Anything else is middleware, not a route: among it the static files of the live page
      // (`/` and `/vendor/socket.io`, http/static-files.ts), which are files, not API operations,
      // and are deliberately not in the document (docs/api.md says so).
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return found.sort();
}

/**
 * Fails naming each route one list has and the other lacks, and the file that must change
 * (docs/architecture.md#add-a-feature lists them all), instead of printing two long lists.
 */
function assertSameRoutes(have: string[], want: string[], missing: (route: string) => string, extra: (route: string) => string): void {
  const problems = [...want.filter((route) => !have.includes(route)).map(missing), ...have.filter((route) => !want.includes(route)).map(extra)];
  if (problems.length > 0) assert.fail(`${problems.join('\n')}\n(docs/architecture.md, "Add a feature", lists every file a new route touches)`);
}

function documentedRoutes(document: OpenApiDocument): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

describe('the routes in /openapi.json', () => {
  it('are exactly the routes the app serves: every Express route documented, every documented route served', () => {
    assertSameRoutes(
      documentedRoutes(doc),
      expressRoutes(api.app),
      (route) => `route ${route} is served but has no contract: add a RouteContract for it beside its router (the feature's routes.ts) and mount both together in src/api.ts`,
      (route) => `route ${route} has a contract in /openapi.json but no router serves it`,
    );
    assert.ok(documentedRoutes(doc).includes('POST /api/debug/crash'), 'the debug routes are mounted (and documented) outside production');
  });

  it('in production, leave out the debug routes and the development sign-in, as the app does', async () => {
    const productionDoc = (await (await fetch(`${production.url}/openapi.json`)).json()) as OpenApiDocument;
    assertSameRoutes(
      documentedRoutes(productionDoc),
      expressRoutes(production.app),
      (route) => `route ${route} is served in production but has no contract`,
      (route) => `route ${route} has a contract in production's /openapi.json but no router serves it there`,
    );
    const left = documentedRoutes(doc).filter((route) => !documentedRoutes(productionDoc).includes(route));
    assert.deepEqual(left, ['GET /api/debug/delay', 'GET /api/debug/error', 'POST /api/debug/crash', 'POST /api/dev/token']);
  });
});

interface Sample {
  path: string;
  method?: 'GET' | 'POST';
  body?: unknown;
  auth?: boolean;
  status: number;
}

/**
 * A request per answer worth checking, for every documented route; a new route without one
 * fails the test below. POST /api/debug/crash is not called: it throws an uncaught exception
 * on purpose, which would end this test process (test/cluster.test.ts crashes a PM2 instance
 * with it).
 */
const SAMPLES: Record<string, Sample[]> = {
  'GET /health': [{ path: '/health', status: 200 }],
  'GET /api/health': [{ path: '/api/health', status: 200 }],
  'GET /ready': [{ path: '/ready', status: 200 }],
  'GET /api/ready': [{ path: '/api/ready', status: 200 }],
  'GET /api/status': [{ path: '/api/status', status: 200 }],
  'GET /metrics': [{ path: '/metrics', status: 200 }],
  'GET /api/cluster-info': [{ path: '/api/cluster-info', status: 200 }],
  'POST /api/rooms/{room}/messages': [
    { path: '/api/rooms/contract/messages', method: 'POST', body: { body: 'hello' }, auth: true, status: 201 },
    { path: '/api/rooms/contract/messages', method: 'POST', body: { body: '   ' }, auth: true, status: 400 },
    { path: '/api/rooms/contract/messages', method: 'POST', body: { body: 'hello' }, status: 401 },
  ],
  'GET /api/rooms/{room}/messages': [
    { path: '/api/rooms/contract/messages?limit=1', status: 200 },
    { path: '/api/rooms/contract/messages?after=0', status: 200 },
    { path: '/api/rooms/contract/messages?after=1&before=2', status: 400 },
  ],
  'GET /api/debug/delay': [
    { path: '/api/debug/delay?ms=0', status: 200 },
    { path: '/api/debug/delay?ms=-1', status: 400 },
  ],
  'GET /api/debug/error': [{ path: '/api/debug/error', status: 500 }],
  'POST /api/debug/crash': [],
  'POST /api/dev/token': [
    { path: '/api/dev/token', method: 'POST', body: { user: 'alice' }, status: 200 },
    { path: '/api/dev/token', method: 'POST', body: { user: 'no spaces' }, status: 400 },
  ],
  'GET /openapi.json': [{ path: '/openapi.json', status: 200 }],
};

async function call(sample: Sample): Promise<Response> {
  const method = sample.method ?? 'GET';
  return fetch(`${api.url}${sample.path}`, {
    method,
    headers: { ...(sample.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(sample.auth ? { authorization: `Bearer ${token}` } : {}) },
    ...(sample.body !== undefined ? { body: JSON.stringify(sample.body) } : {}),
  });
}

describe('what the routes answer', () => {
  it('validates against the documented schema of its status, errors (400, 401, 500) included', async () => {
    assertSameRoutes(
      Object.keys(SAMPLES).sort(),
      documentedRoutes(doc),
      (route) => `route ${route} has no contract sample in test/api-contract.test.ts SAMPLES: add a request for each answer worth checking`,
      (route) => `test/api-contract.test.ts SAMPLES has ${route}, which /openapi.json does not document`,
    );
    for (const [route, samples] of Object.entries(SAMPLES)) {
      const [method = '', path = ''] = route.split(' ');
      const operation = doc.paths[path]?.[method.toLowerCase()] as Operation | undefined;
      assert.ok(operation, route);
      for (const sample of samples) {
        const res = await call(sample);
        const what = `${method} ${sample.path} → ${res.status}`;
        assert.equal(res.status, sample.status, what);
        const documented = operation.responses[String(res.status)];
        assert.ok(documented, `${what}: the status is documented`);
        const [contentType = '', media] = Object.entries(documented.content ?? {})[0] ?? [];
        assert.ok(media, `${what}: a body is documented`);
        assert.ok(res.headers.get('content-type')?.startsWith(contentType), `${what}: ${res.headers.get('content-type')} is ${contentType}`);
        assertValid(media.schema, contentType === 'application/json' ? await res.json() : await res.text(), what);
      }
    }
  });

  it('a 404 (no such route) has the documented common error body', async () => {
    const res = await fetch(`${api.url}/api/no-such-route`);
    assert.equal(res.status, 404);
    assertValid({ $ref: '#/components/schemas/Error' }, await res.json(), 'GET /api/no-such-route');
  });
});

describe('the Socket.IO events in x-socket-events', () => {
  const events = () => doc['x-socket-events'] as { client: Record<string, { payload: JsonSchema; ack: JsonSchema }>; server: Record<string, { payload: JsonSchema }> };

  it('are the ones the server handles and emits, and what it sends validates against them', async () => {
    assert.deepEqual(Object.keys(events().client).sort(), ['join', 'leave']);
    assert.deepEqual(Object.keys(events().server).sort(), ['gap', 'hello', 'message', 'resync', 'stats', 'token-expired']);
    const { socket, hello } = await connect(api.url, token);
    sockets.push(socket);
    assertValid(events().server.hello?.payload ?? {}, hello, 'hello');

    // One message of its own to replay, so this test stands without the ones above.
    const seeded = await call({ path: '/api/rooms/contract/messages', method: 'POST', body: { body: 'to replay' }, auth: true, status: 201 });
    assert.equal(seeded.status, 201);
    const replayed = collect(socket, 'message');
    const joinPayload = { room: 'contract', after: 0 };
    assertValid(events().client.join?.payload ?? {}, joinPayload, 'join payload');
    const joined = await emitRaw(socket, 'join', joinPayload);
    assert.equal(joined.ok, true);
    assertValid(events().client.join?.ack ?? {}, joined, 'join ack');
    assert.ok(replayed.length > 0, 'the room\'s messages were replayed');
    for (const message of replayed) assertValid(events().server.message?.payload ?? {}, message, 'replayed message');

    const posted = await call({ path: '/api/rooms/contract/messages', method: 'POST', body: { body: 'live' }, auth: true, status: 201 });
    assert.equal(posted.status, 201);
    const live = await waitFor('the live message', () => replayed.find((m) => m.body === 'live'), 5000, 20);
    assert.ok(live.origin, 'a live message carries its origin');
    assertValid(events().server.message?.payload ?? {}, live, 'live message');

    const refused = await emitRaw(socket, 'join', { room: '' });
    assert.equal(refused.ok, false);
    assertValid(events().client.join?.ack ?? {}, refused, 'refused join ack');
    assertValid(events().client.leave?.ack ?? {}, await emitRaw(socket, 'leave', { room: 'contract' }), 'leave ack');
  });

  it('token-expired validates against its schema', async () => {
    const { socket } = await connect(api.url, await tokens.sign('contract', '2s'));
    sockets.push(socket);
    const expired = collect(socket, 'token-expired');
    const notice = await waitFor('the token to expire', () => expired[0], 10_000, 50);
    assertValid(events().server['token-expired']?.payload ?? {}, notice, 'token-expired');
  });
});

describe('docs/api.md', () => {
  it('names every documented route, and no route the document lacks', () => {
    const text = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
    const named = new Set([...text.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^\s`?]*)/g)].map(([, method, path]) => `${method} ${openApiPath(path ?? '')}`));
    // Files of the live page, not API operations (see expressRoutes above).
    const staticFiles = ['GET /', 'GET /vendor/socket.io/socket.io.min.js'];
    assertSameRoutes(
      [...named].filter((route) => !staticFiles.includes(route)).sort(),
      documentedRoutes(doc),
      (route) => `route ${route} has no row in docs/api.md: add one to its "Routes" table, the route in backquotes`,
      (route) => `docs/api.md names ${route}, which the app does not serve`,
    );
  });

  it('and docs/realtime.md name every Socket.IO event', () => {
    const text = readFileSync(join(ROOT, 'docs', 'realtime.md'), 'utf8') + readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
    const socketEvents = doc['x-socket-events'] as { client: object; server: object };
    for (const name of [...Object.keys(socketEvents.client), ...Object.keys(socketEvents.server)]) assert.ok(text.includes(`\`${name}\``), `\`${name}\` is explained`);
  });
});
