/** 2. Cluster scaling: the app with 1 instance and with one per core, alternating, and how the load spread. */
import { measureLoad } from '../measure/load-run.js';
import { median, round } from '../measure/proc.js';
import type { Target } from '../measure/targets.js';
import type { Results } from '../results.js';
import type { Settings } from '../settings.js';
import { assertClean, summarize } from './cpu.js';

export async function scalingSection(one: Target, perCore: Target, settings: Settings, log: (line: string) => void): Promise<Results['scaling']> {
  const ab = { concurrency: settings.concurrency, seconds: settings.seconds };
  await measureLoad(one, '/api/status', { ...ab, seconds: Math.min(2, settings.seconds) }); // warm-up
  const rounds: Results['scaling']['rounds'] = [];
  for (let r = 0; r < settings.rounds; r += 1) {
    const pair = r % 2 === 0 ? [one, perCore] : [perCore, one];
    const [a, b] = [await measureLoad(pair[0] as Target, '/api/status', ab), await measureLoad(pair[1] as Target, '/api/status', ab)];
    const [first, second] = r % 2 === 0 ? [a, b] : [b, a];
    assertClean('scaling', first);
    assertClean('scaling', second);
    rounds.push({ round: r + 1, one: first, perCore: second });
    log(`scaling round ${r + 1}: 1 instance ${first.requestsPerSecond} req/s ${first.cpuMicrosPerRequest} µs; per core ${second.requestsPerSecond} req/s ${second.cpuMicrosPerRequest} µs, spread ${second.spread.join('/')}`);
  }
  return {
    rounds,
    one: summarize(rounds.map((r) => r.one)),
    perCore: summarize(rounds.map((r) => r.perCore)),
    throughputRatio: round(median(rounds.map((r) => r.perCore.requestsPerSecond / Math.max(r.one.requestsPerSecond, 1))), 2),
    spreadPerCore: rounds.at(-1)?.perCore.spread ?? [],
  };
}
