/**
 * `npm run bench:tracing [-- --rounds N --seconds S]`: what OpenTelemetry tracing costs per
 * request. Two PM2 clusters of one API instance each, production settings, one with tracing
 * off (no OTEL_* set) and one exporting every span (always_on) over OTLP/HTTP to a receiver in
 * this process; ab against each in turn, alternating, so both see the same machine. The figure
 * that holds on a shared machine is the instance's CPU time per request (docs/benchmarks.md#tracing).
 */
import { parseArgs } from 'node:util';
import { createTokenService } from '../src/auth/jwt.js';
import { startOtlpReceiver } from '../test/helpers/otlp.js';
import { postMessage } from '../test/helpers/realtime.js';
import { createTestDatabase, TEST_JWT_SECRET } from '../test/helpers/services.js';
import { measureLoad, type LoadFigures } from './measure/load-run.js';
import { load1, median, round } from './measure/proc.js';
import { startApp } from './measure/targets.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const PATHS = { 'GET /health': '/health', 'GET messages (one query)': '/api/rooms/bench/messages?limit=20' };

const db = await createTestDatabase();
const receiver = await startOtlpReceiver();
const off = await startApp('tracing off', { instances: 1, databaseUrl: db.url, apiOnly: true });
const on = await startApp('tracing on', { instances: 1, databaseUrl: db.url, apiOnly: true, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER: 'always_on' } });
try {
  const token = await createTokenService(TEST_JWT_SECRET).sign('bench');
  for (let i = 0; i < 20; i += 1) await postMessage(off.baseUrl, 'bench', { body: `message ${i}` }, token);
  const figures: Record<string, Record<string, LoadFigures[]>> = {};
  for (let round_ = 0; round_ < rounds; round_ += 1) {
    for (const [label, path] of Object.entries(PATHS)) {
      // Alternating, and in the other order every other round.
      for (const target of round_ % 2 === 0 ? [off, on] : [on, off]) {
        const run = await measureLoad(target, path, { concurrency: 16, seconds });
        ((figures[label] ??= {})[target.name] ??= []).push(run);
      }
    }
  }
  console.log(`# ${rounds} rounds of ${seconds} s, concurrency 16, load average ${load1()}; medians; spans received: ${receiver.spans.length === 0 ? 'protobuf (not decoded)' : receiver.spans.length}`);
  console.log('| request | off: µs CPU/request | on: µs CPU/request | on/off CPU | off: req/s | on: req/s | on/off req/s |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [label, byTarget] of Object.entries(figures)) {
    const cpu = (name: string) => median((byTarget[name] ?? []).map((f) => f.cpuMicrosPerRequest));
    const rps = (name: string) => median((byTarget[name] ?? []).map((f) => f.requestsPerSecond));
    console.log(`| ${label} | ${cpu('tracing off')} | ${cpu('tracing on')} | ${round(cpu('tracing on') / cpu('tracing off'), 2)} | ${rps('tracing off')} | ${rps('tracing on')} | ${round(rps('tracing on') / rps('tracing off'), 2)} |`);
  }
} finally {
  await off.stop();
  await on.stop();
  await receiver.close();
  await db.drop();
}
