/** The results as the Markdown tables docs/benchmarks.md quotes. */
import type { Results } from '../results.js';

const mean = (values: number[] | undefined) => (values && values.length ? Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10 : NaN);
const table = (head: string[], rows: (string | number)[][]) => [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export function markdown(r: Results): string {
  const m = r.meta;
  const out = [
    `# Bench ${m.date} (${m.mode})`,
    `${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node}; ${m.instances} instances per target under PM2 cluster mode; ab -k -c ${m.concurrency} for ${m.seconds} s per run; ${m.rounds} rounds, order rotated; load average ${m.load1Start} at the start, ${m.load1End} at the end; ${m.durationSeconds} s in all.`,
    '## 1. CPU per request (medians)',
    table(
      ['run', 'req/s', 'µs CPU/request', '× bare Express', '× its reference', 'PM2 daemon µs/request', 'load per round'],
      r.cpu.runs.map((name) => {
        const s = r.cpu.medians[name];
        return [name, s?.requestsPerSecond ?? '', s?.cpuMicrosPerRequest ?? '', s?.cpuRatioToExpress ?? '', s?.reference ? `${s.cpuRatioToReference} (${s.reference})` : '', s?.daemonMicrosPerRequest ?? '', r.cpu.rounds.map((x) => x.figures[name]?.load1).join(', ')];
      }),
    ),
    '## 2. Cluster scaling (/api/status)',
    table(
      ['instances', 'req/s', 'µs CPU/request'],
      [
        [1, r.scaling.one.requestsPerSecond, r.scaling.one.cpuMicrosPerRequest],
        [m.instances, r.scaling.perCore.requestsPerSecond, r.scaling.perCore.cpuMicrosPerRequest],
      ],
    ),
    `Throughput ratio (median per round): ${r.scaling.throughputRatio}×; CPU share per instance in the last round: ${r.scaling.spreadPerCore.join(' / ')}.`,
    '## 3. Memory (MB, mean per instance)',
    table(
      ['target', 'idle RSS', 'after load RSS', 'idle PSS', 'after load PSS', 'requests served', 'RSS after max sockets'],
      Object.entries(r.memory.targets).map(([name, t]) => [name, mean(t.idle), mean(t.afterLoad), mean(t.idlePss), t.afterLoadPss.length ? mean(t.afterLoadPss) : '', t.requestsServed, t.after1000Sockets ? mean(t.after1000Sockets) : '']),
    ),
    `Worker idle: ${r.memory.workerIdle} MB RSS, ${r.memory.workerIdlePss} MB PSS. PSS divides shared pages (above all the \`node\` binary's code) among the processes mapping them, so it is what one more instance adds on a host running several.`,
    '## 4. Reload',
    `${r.reload.reloads} reloads (${r.reload.reloadMillis.join(' ms, ')} ms) under ab -k -r -c 8 for ${r.reload.seconds} s: ${r.reload.complete} complete, ${r.reload.failed} failed, ${r.reload.non2xx} non-2xx.`,
    '## 5. Realtime (POST → receipt)',
    table(
      ['clients', 'app p50 ms', 'app p99 ms', 'reference p50 ms', 'reference p99 ms', 'delivered app / reference'],
      r.realtime.map((x) => [x.clients, x.app.p50Ms, x.app.p99Ms, x.reference.p50Ms, x.reference.p99Ms, `${x.app.delivered}/${x.app.expected} · ${x.reference.delivered}/${x.reference.expected}`]),
    ),
    `## 6. Database (c=${r.database.concurrency}, budget ${r.database.budget})`,
    table(
      ['route', 'req/s', 'µs CPU/request', 'non-2xx', 'failed', 'peak connections'],
      (['read', 'write'] as const).map((k) => [k, r.database[k].requestsPerSecond, r.database[k].cpuMicrosPerRequest, r.database[k].non2xx, r.database[k].failed, r.database[k].peakConnections]),
    ),
    `## 7. Realtime at scale: ${r.realtimeScale.app.clients} sockets on one instance`,
    table(
      ['target', 'client processes', 'connected in s', 'RSS before → connected MB', 'kB per idle socket', 'last client ms (median; each message)', 'p50 ms', 'p99 ms', 'delivered'],
      ([['app (API only)', r.realtimeScale.app], ['Socket.IO reference', r.realtimeScale.reference]] as const).map(([name, f]) => [name, f.processes, f.connectSeconds, `${f.rssBeforeMb} → ${f.rssConnectedMb}`, f.rssPerSocketKb, `${f.lastClientMedianMs} (${f.lastClientMs.join(', ')})`, f.p50Ms, f.p99Ms, `${f.delivered}/${f.expected}`]),
    ),
    '## Goals',
    table(['goal', 'target', 'measured', 'met'], r.goals.map((g) => [g.goal, g.target, g.measured, g.met ? 'yes' : 'no'])),
    '',
  ];
  return out.join('\n\n');
}

export { mean };
