/**
 * `npm run bench -- --quick` with tiny sizes runs end to end and writes a complete results file.
 * No figure is asserted: these machines are shared, and speed goals belong to the bench itself.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Results } from '../bench/results.js';
import { execFileAsync, ROOT } from './helpers/services.js';

const out = mkdtempSync(join(tmpdir(), 'epc-bench-'));
after(() => { rmSync(out, { recursive: true, force: true }); });

const isNumber = (value: unknown) => typeof value === 'number' && Number.isFinite(value);

describe('npm run bench -- --quick, with tiny sizes', () => {
  it('answers every section and writes the results file, the summary and the charts', async () => {
    await execFileAsync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--rounds', '3', '--seconds', '1', '--sockets', '5,10', '--messages', '2', '--scale-clients', '20', '--out', out], {
      cwd: ROOT,
      // Seven targets and a socket run; a loaded shared machine has taken 7 minutes (docs/benchmarks.md).
      timeout: 600_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const stem = join(out, new Date().toISOString().slice(0, 10));
    const results = JSON.parse(readFileSync(`${stem}.json`, 'utf8')) as Results;
    for (const file of [`${stem}.md`, `${stem}-cpu.svg`, `${stem}-memory.svg`, `${stem}-sockets.svg`]) assert.ok(existsSync(file), file);
    assert.match(readFileSync(`${stem}-cpu.svg`, 'utf8'), /^<svg /);

    assert.equal(results.meta.mode, 'quick');
    assert.ok(isNumber(results.meta.load1Start) && isNumber(results.meta.load1End));
    // 1. every configuration, every round, with its load average
    assert.deepEqual(results.cpu.runs, ['bare node:http', 'bare Express /health', 'app /health', 'app /api/status (access-logged)', 'Express + pg read', 'app database read', 'Express + pg + Redis publish write', 'app database write']);
    assert.equal(results.cpu.rounds.length, 3);
    assert.notDeepEqual(results.cpu.rounds[0]?.order, results.cpu.rounds[1]?.order, 'the order rotates');
    for (const name of results.cpu.runs) {
      const median = results.cpu.medians[name];
      assert.ok(median && isNumber(median.cpuMicrosPerRequest) && isNumber(median.requestsPerSecond) && isNumber(median.cpuRatioToExpress), name);
      for (const round of results.cpu.rounds) assert.ok(isNumber(round.figures[name]?.load1), name);
    }
    // the database routes beside Express + pg doing the same read and the same insert + publish
    assert.ok(isNumber(results.cpu.medians['app database read']?.cpuRatioToReference));
    assert.ok(isNumber(results.cpu.medians['app database write']?.cpuRatioToReference));
    // 2. scaling
    assert.equal(results.scaling.rounds.length, 3);
    assert.ok(isNumber(results.scaling.throughputRatio));
    assert.equal(results.scaling.spreadPerCore.length, results.meta.instances);
    // 3. memory, beside bare Express
    for (const name of ['bare node:http', 'bare Express', 'app']) {
      const memory = results.memory.targets[name];
      assert.ok(memory && memory.idle.length === results.meta.instances && memory.afterLoad.every(isNumber), name);
      assert.ok(memory.idlePss.length === results.meta.instances && memory.afterLoadPss.every((pss) => isNumber(pss) && pss > 0), `${name} PSS`);
    }
    assert.ok(results.memory.targets.app?.after1000Sockets?.every(isNumber));
    assert.ok(isNumber(results.memory.workerIdle) && results.memory.workerIdle > 0);
    assert.ok(isNumber(results.memory.workerIdlePss) && results.memory.workerIdlePss > 0);
    // 4. reload
    assert.ok(results.reload.complete > 0 && isNumber(results.reload.failed) && isNumber(results.reload.non2xx));
    assert.equal(results.reload.reloadMillis.length, 2);
    // 5. realtime, the app beside the reference, every message delivered
    assert.deepEqual(results.realtime.map((r) => r.clients), [5, 10]);
    for (const r of results.realtime) {
      assert.equal(r.app.delivered, r.app.expected);
      assert.equal(r.reference.delivered, r.reference.expected);
      assert.ok(isNumber(r.app.p99Ms) && isNumber(r.reference.p99Ms));
    }
    // 7. many sockets on one instance, every message to every one of them
    for (const f of [results.realtimeScale.app, results.realtimeScale.reference]) {
      assert.equal(f.clients, 20);
      assert.equal(f.delivered, f.expected);
      assert.ok(isNumber(f.rssPerSocketKb) && isNumber(f.p99Ms) && f.lastClientMs.length === 2);
    }
    // 6. database
    for (const route of [results.database.read, results.database.write]) assert.ok(route.complete > 0 && route.peakConnections > 0);
    assert.equal(results.goals.length, 10);
  });
});
