/**
 * What cluster mode buys on this machine: the same app with 1 API instance and with one per
 * CPU, under the same keep-alive ab load, alternating over several rounds (the machines are
 * noisy; see docs/benchmarks.md). Reports median requests/s and CPU time per request, the
 * steadier figure, read from /proc/<pid>/stat of the instances.
 *
 *   npm run bench                    # 3 rounds of 8 s each per configuration
 *   BENCH_ROUNDS=5 BENCH_SECONDS=10 npm run bench
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { startCluster } from '../test/helpers/cluster.js';
import { ab } from '../test/helpers/load.js';
import { createTestDatabase, sleep } from '../test/helpers/services.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const cpus = os.availableParallelism();
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

const db = await createTestDatabase();
const results = new Map<number, { rps: number[]; cpuMsPerRequest: number[] }>();
try {
  for (let round = 1; round <= rounds; round += 1) {
    for (const instances of [1, cpus]) {
      const cluster = await startCluster({ instances, databaseUrl: db.url, apiOnly: true, env: { LOG_LEVEL: 'warn' } });
      try {
        const pids = (await cluster.jlist()).filter((p) => p.name === 'api').map((p) => p.pid);
        await ab(`${cluster.baseUrl}/api/status`, { concurrency, seconds: 2 }); // warm-up
        await sleep(500);
        const before = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
        const run = await ab(`${cluster.baseUrl}/api/status`, { concurrency, seconds });
        const after = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
        if (run.failed > 0 || run.non2xx > 0) throw new Error(`failed requests in the run:\n${run.raw}`);
        const cpuMs = ((after - before) / TICKS_PER_SECOND) * 1000;
        const entry = results.get(instances) ?? { rps: [], cpuMsPerRequest: [] };
        entry.rps.push(run.requestsPerSecond);
        entry.cpuMsPerRequest.push(cpuMs / run.complete);
        results.set(instances, entry);
        console.log(`round ${round}, ${instances} instance(s): ${run.requestsPerSecond.toFixed(0)} req/s, ${(cpuMs / run.complete).toFixed(3)} ms CPU/request`);
      } finally {
        await cluster.stop();
      }
    }
  }
} finally {
  await db.drop();
}

const single = results.get(1);
const clustered = results.get(cpus);
console.log(`\n${cpus} CPUs, ab -k -c ${concurrency} for ${seconds} s per run, ${rounds} rounds, medians:`);
console.log('| instances | req/s | ms CPU per request |');
console.log('| --- | --- | --- |');
for (const [instances, r] of results) console.log(`| ${instances} | ${median(r.rps).toFixed(0)} | ${median(r.cpuMsPerRequest).toFixed(3)} |`);
if (single && clustered && cpus > 1) {
  // Each round ran both configurations back to back, so a round's ratio shares its noise;
  // the median of those ratios is steadier than a ratio of medians.
  const ratios = single.rps.map((rps, i) => (clustered.rps[i] ?? 0) / rps);
  console.log(`\nthroughput ratio ${cpus} instances / 1, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)}x`);
  const cpuRatios = single.cpuMsPerRequest.map((ms, i) => (clustered.cpuMsPerRequest[i] ?? 0) / ms);
  console.log(`CPU per request ratio, per round: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}; median ${median(cpuRatios).toFixed(2)}x`);
}
