/** The goals, checked against a run's figures (reported, never asserted). */
import { mean } from './markdown.js';
import type { Goal, Results } from '../results.js';

export function evaluateGoals(r: Results): Goal[] {
  const ratio = (name: string) => r.cpu.medians[name]?.cpuRatioToExpress ?? NaN;
  const app = r.memory.targets.app;
  const express = r.memory.targets['bare Express'];
  const appIdle = mean(app?.idle);
  const appGrowth = mean(app?.afterLoad);
  const expressAfter = mean(express?.afterLoad);
  return [
    { goal: '/health CPU per request', target: '≤ 1.5× bare Express', measured: `${ratio('app /health')}×`, met: ratio('app /health') <= 1.5 },
    { goal: 'access-logged route CPU per request', target: '≤ 2.0× bare Express', measured: `${ratio('app /api/status (access-logged)')}×`, met: ratio('app /api/status (access-logged)') <= 2 },
    { goal: 'idle RSS per API instance', target: '≤ 100 MB', measured: `${appIdle} MB`, met: appIdle <= 100 },
    { goal: 'RSS after load', target: '≤ 1.3× bare Express after load', measured: `${appGrowth} MB vs ${expressAfter} MB (${Math.round((appGrowth / expressAfter) * 100) / 100}×)`, met: appGrowth <= 1.3 * expressAfter },
    { goal: 'worker idle RSS', target: '≤ 80 MB', measured: `${r.memory.workerIdle} MB`, met: r.memory.workerIdle <= 80 },
    { goal: 'no failed request over two reloads', target: '0 failed, 0 non-2xx', measured: `${r.reload.failed} failed, ${r.reload.non2xx} non-2xx`, met: r.reload.failed === 0 && r.reload.non2xx === 0 },
  ];
}
