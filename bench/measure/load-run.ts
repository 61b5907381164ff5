/**
 * One ab run against a target, with the CPU its instances (and PM2's daemon) spent on it.
 * CPU time per request is the steady figure on a shared machine; requests/s moves with
 * whatever else runs.
 */
import { ab, type AbOptions } from '../../test/helpers/load.js';
import { cpuMicros, load1, pssMb, round, rssMb } from './proc.js';
import type { Target } from './targets.js';

export interface LoadFigures {
  requestsPerSecond: number;
  /** Instances' utime + stime per completed request. */
  cpuMicrosPerRequest: number;
  /** PM2 daemon's CPU per request: it carries every stdout line (the access log) to the log file. */
  daemonMicrosPerRequest: number;
  complete: number;
  failed: number;
  non2xx: number;
  /** Each instance's share of the instances' CPU, largest first: how the load spread. */
  spread: number[];
  load1: number;
  /** Each instance's RSS and PSS (MB) as the run ended, before V8 could shrink an idle heap. */
  rssAfter: number[];
  pssAfter: number[];
}

export async function measureLoad(target: Target, path: string, options: AbOptions): Promise<LoadFigures> {
  const pids = await target.pids();
  const daemon = target.daemonPid();
  const before = pids.map(cpuMicros);
  const daemonBefore = cpuMicros(daemon);
  const run = await ab(`${target.baseUrl}${path}`, options);
  const spent = pids.map((pid, i) => cpuMicros(pid) - (before[i] ?? 0));
  const rssAfter = pids.map(rssMb);
  const pssAfter = pids.map(pssMb);
  const total = spent.reduce((a, b) => a + b, 0);
  const complete = Math.max(run.complete, 1);
  return {
    requestsPerSecond: round(run.requestsPerSecond, 0),
    cpuMicrosPerRequest: round(total / complete),
    daemonMicrosPerRequest: round((cpuMicros(daemon) - daemonBefore) / complete),
    complete: run.complete,
    failed: run.failed,
    non2xx: run.non2xx,
    spread: spent.map((s) => round(total > 0 ? s / total : 0, 2)).sort((a, b) => b - a),
    load1: load1(),
    rssAfter,
    pssAfter,
  };
}
