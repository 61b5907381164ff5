import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { createTestDatabase, waitFor, type TestDatabase } from './helpers/services.js';

const MAX_BYTES = 32 * 1024;
const RETAIN = 3;

/** `count` requests, 8 at a time, each with its own X-Request-Id; returns the ids each instance served. */
async function requests(cluster: Cluster, prefix: string, count: number): Promise<Map<string, string[]>> {
  const served = new Map<string, string[]>();
  let next = 0;
  const client = async () => {
    while (next < count) {
      const id = `${prefix}-${next++}`;
      const res = await fetch(`${cluster.baseUrl}/api/status`, { headers: { 'x-request-id': id }, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const instance = res.headers.get('x-instance-id') ?? '?';
      served.set(instance, [...(served.get(instance) ?? []), id]);
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));
  return served;
}

describe('log rotation with LOG_MAX_SIZE and LOG_RETAIN', () => {
  let db: TestDatabase;
  let cluster: Cluster;
  /** Each API instance's out log (by instance id), from PM2. */
  let logFiles: Map<string, string>;
  before(async () => {
    db = await createTestDatabase();
    // Every request's line is looked for, so no log budget (abuse-bounds tests that one).
    cluster = await startCluster({ instances: 2, databaseUrl: db.url, apiOnly: true, env: { LOG_MAX_SIZE: '32K', LOG_RETAIN: String(RETAIN), LOG_LINES_PER_SECOND: '0' } });
    logFiles = new Map((await cluster.jlist()).filter((p) => p.name === 'api').map((p) => [String(p.pm2_env.NODE_APP_INSTANCE), p.pm2_env.pm_out_log_path ?? '']));
  });
  after(async () => {
    await cluster.stop();
    await db.drop();
  });

  /** The request ids in an instance's log file and its rotated copies, and how many rotated copies there are. */
  const logged = (instance: string) => {
    const file = logFiles.get(instance) ?? '';
    const rotated = readdirSync(join(file, '..')).filter((f) => f.startsWith(`${file.split('/').at(-1) ?? ''}.`));
    const ids: string[] = [];
    for (const path of [file, ...rotated.map((f) => join(file, '..', f))]) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (line === '') continue;
        const id = (JSON.parse(line) as { req?: { id?: string } }).req?.id;
        if (id !== undefined) ids.push(id);
      }
    }
    return { ids, rotated: rotated.sort(), sizes: [file, ...rotated.map((f) => join(file, '..', f))].map((p) => readFileSync(p).length) };
  };

  it('rotates each instance\'s file past LOG_MAX_SIZE and loses no line across the rotations', async () => {
    assert.equal(logFiles.size, 2);
    // ≈ 250 request lines of ≈ 300 bytes per instance: two or three rotations each, within what is kept.
    const served = await requests(cluster, 'a', 500);
    // A line is written after its response has gone (one write per event-loop turn, then PM2's): the last ones may still be on their way.
    await waitFor('the last lines to reach the files', () => [...served].every(([instance, ids]) => { const inFiles = new Set(logged(instance).ids); return ids.every((id) => inFiles.has(id)); }), 5000, 100).catch(() => undefined);
    for (const [instance, ids] of served) {
      const { ids: inFiles, rotated, sizes } = logged(instance);
      assert.ok(rotated.length >= 1 && rotated.length <= RETAIN, `instance ${instance}: rotated files ${rotated.join(', ')}`);
      for (const size of sizes) assert.ok(size < MAX_BYTES + 16 * 1024, `a file stays near LOG_MAX_SIZE: ${sizes.join(', ')}`);
      const missing = ids.filter((id) => !inFiles.includes(id));
      assert.deepEqual(missing, [], `instance ${instance}: every request it served has its line`);
      assert.equal(new Set(inFiles).size, inFiles.length, 'and only once');
    }
  });

  it('keeps at most LOG_RETAIN rotated files', async () => {
    // ≈ 600 more lines per instance: more rotations than are kept.
    await requests(cluster, 'b', 1200);
    for (const instance of logFiles.keys()) {
      const { rotated } = logged(instance);
      const base = (logFiles.get(instance) ?? '').split('/').at(-1) ?? '';
      assert.deepEqual(rotated, Array.from({ length: RETAIN }, (_, n) => `${base}.${n + 1}`), `instance ${instance}: ${base}.1 to .${RETAIN}, no more`);
    }
  });
});
