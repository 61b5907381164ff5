import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTokenService } from '../src/auth/jwt.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { startOtlpReceiver, type ReceivedSpan } from './helpers/otlp.js';
import { connectToTwoInstances, join, postMessage, collect, type TestSocket } from './helpers/realtime.js';
import { createTestDatabase, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

const tokens = createTokenService(TEST_JWT_SECRET);

describe('OpenTelemetry traces across a PM2 cluster of 2 (OTLP/HTTP to a receiver in the test)', () => {
  let db: TestDatabase;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let cluster: Cluster;
  const sockets: TestSocket[] = [];
  before(async () => {
    db = await createTestDatabase();
    receiver = await startOtlpReceiver();
    cluster = await startCluster({
      instances: 2,
      databaseUrl: db.url,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'traced-test', WORKER_STATS_INTERVAL_MS: '1000' },
    });
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await cluster.stop();
    await receiver.close();
    await db.drop();
  });

  const traceOf = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);
  const describeSpans = (spans: ReceivedSpan[]) => spans.map((s) => `${s.name}@${String(s.resource['app.role'])}#${String(s.resource['app.instance_id'])}`).join(', ');

  it('follows one POST from the caller through its insert and publish to the emit on each instance with a subscriber', async () => {
    const token = await tokens.sign('tracer');
    const [a, b] = await connectToTwoInstances(cluster.baseUrl, token);
    sockets.push(a.socket, b.socket);
    assert.deepEqual(await join(a.socket, 'traced'), { ok: true });
    assert.deepEqual(await join(b.socket, 'traced'), { ok: true });
    const seenA = collect(a.socket, 'message');
    const seenB = collect(b.socket, 'message');

    // The caller's own trace: the request must become a child of its span.
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const res = await postMessage(cluster.baseUrl, 'traced', { body: 'follow me' }, token, { headers: { traceparent: `00-${traceId}-${callerSpan}-01` } });
    assert.equal(res.status, 201);
    const { id: requestId } = (await res.json()) as { id: number };
    assert.ok(requestId > 0);
    assert.match(res.headers.get('traceresponse') ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    await waitFor('both sockets to get the message', () => seenA.length === 1 && seenB.length === 1, 10_000, 50);
    // What clients receive is unchanged: the packet's trace context is not part of the event.
    assert.equal(Object.hasOwn(seenA[0] ?? {}, 'traceparent'), false);

    const emits = () => traceOf(traceId).filter((span) => span.name === 'socket.io emit message');
    await waitFor('the emit spans of both instances', () => new Set(emits().map((s) => s.resource['app.instance_id'])).size === 2, 30_000, 200);
    const spans = traceOf(traceId);
    const server = spans.find((span) => span.name === 'POST /api/rooms/:room/messages');
    assert.ok(server, `no server span named by its route in ${describeSpans(spans)}`);
    assert.equal(server.parentSpanId, callerSpan);
    assert.equal(server.attributes['http.response.status_code'], 201);
    assert.equal(server.resource['service.name'], 'traced-test');
    assert.ok(spans.some((span) => span.name.startsWith('prisma:') && span.name.includes('db_query')), `no Prisma query span in ${describeSpans(spans)}`);
    assert.ok(spans.some((span) => span.name === 'publish'), `no Redis publish span in ${describeSpans(spans)}`);
    const instances = new Set([a.hello.instanceId, b.hello.instanceId]);
    for (const emit of emits()) {
      assert.ok(instances.has(Number(emit.resource['app.instance_id'])));
      assert.equal(emit.attributes['app.sockets'], 1);
      assert.equal(emit.attributes['app.rooms'], 'traced');
    }
    assert.equal(emits().length, 2, describeSpans(spans));

    // The request's log line carries the trace and request ids (pino's mixin reads the active context).
    const id = res.headers.get('x-request-id');
    const line = await waitFor('the access log line of the POST', () => cluster.logLines('api').find((l) => l.req?.id === id));
    assert.equal(line.trace_id, traceId);
    assert.equal(line.requestId, id);
  });

  it('traces a socket join and a scheduled job', async () => {
    await waitFor('a span for each join', () => receiver.spans.filter((span) => span.name === 'socket.io join').length >= 2, 30_000, 200);
    const job = await waitFor('a room-stats job span from the worker', () => receiver.spans.find((span) => span.name === 'job room-stats' && span.resource['app.role'] === 'worker'), 30_000, 200);
    // Its lock and queries are its children.
    await waitFor('the job\'s own Redis and Prisma spans', () => traceOf(job.traceId).some((s) => s.parentSpanId === job.spanId && s.name === 'set'), 30_000, 200);
  });
});
