/**
 * 1. CPU per request and requests/s: bare node:http, bare Express 5 and the app's routes, the
 * same instance count each, one ab run per configuration per round, the order rotated every
 * round so no configuration always runs first (or last) in a noisy minute.
 */
import { measureLoad, type LoadFigures } from '../measure/load-run.js';
import { median, round } from '../measure/proc.js';
import type { Target } from '../measure/targets.js';
import type { Results, Summary } from '../results.js';
import type { Settings } from '../settings.js';

export interface CpuRun {
  name: string;
  target: Target;
  path: string;
  /** A POST of this JSON file, with these headers, instead of a GET. */
  post?: { file: string; headers?: Record<string, string> };
  /** The run this one is compared with, besides bare Express (its own reference app). */
  reference?: string;
}

export const EXPRESS_RUN = 'bare Express /health';

export function summarize(figures: LoadFigures[]): Summary {
  return {
    requestsPerSecond: round(median(figures.map((f) => f.requestsPerSecond)), 0),
    cpuMicrosPerRequest: round(median(figures.map((f) => f.cpuMicrosPerRequest))),
    daemonMicrosPerRequest: round(median(figures.map((f) => f.daemonMicrosPerRequest))),
  };
}

export function assertClean(name: string, figures: LoadFigures): void {
  if (figures.failed > 0 || figures.non2xx > 0 || figures.complete === 0) throw new Error(`${name}: ${figures.complete} complete, ${figures.failed} failed, ${figures.non2xx} non-2xx`);
}

export async function cpuSection(runs: CpuRun[], settings: Settings, log: (line: string) => void): Promise<Results['cpu']> {
  const ab = { concurrency: settings.concurrency, seconds: settings.seconds };
  const options = (run: CpuRun) => ({ ...ab, ...(run.post ? { postFile: run.post.file, headers: run.post.headers } : {}) });
  for (const run of runs) await measureLoad(run.target, run.path, { ...options(run), seconds: settings.mode === 'quick' ? 1 : 2 }); // warm-up
  const rounds: Results['cpu']['rounds'] = [];
  for (let r = 0; r < settings.rounds; r += 1) {
    const order = runs.map((_, i) => runs[(i + r) % runs.length] as CpuRun);
    const figures: Record<string, LoadFigures> = {};
    for (const run of order) {
      const f = await measureLoad(run.target, run.path, options(run));
      assertClean(run.name, f);
      figures[run.name] = f;
      log(`cpu round ${r + 1}: ${run.name}: ${f.requestsPerSecond} req/s, ${f.cpuMicrosPerRequest} µs CPU/request (+${f.daemonMicrosPerRequest} PM2 daemon), load ${f.load1}`);
    }
    rounds.push({ round: r + 1, order: order.map((run) => run.name), figures });
  }
  const medians: Record<string, Summary> = {};
  for (const run of runs) {
    const perRound = rounds.map((r) => r.figures[run.name] as LoadFigures);
    // A round's runs share its noise, so the median of per-round ratios is steadier than a ratio of medians.
    const ratiosTo = (other: string) => rounds.map((r) => (r.figures[run.name]?.cpuMicrosPerRequest ?? 0) / (r.figures[other]?.cpuMicrosPerRequest ?? 1));
    medians[run.name] = {
      ...summarize(perRound),
      cpuRatioToExpress: round(median(ratiosTo(EXPRESS_RUN)), 2),
      ...(run.reference ? { reference: run.reference, cpuRatioToReference: round(median(ratiosTo(run.reference)), 2) } : {}),
    };
  }
  return { runs: runs.map((r) => r.name), rounds, medians };
}
