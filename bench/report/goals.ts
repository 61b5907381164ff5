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
  const toReference = (name: string) => r.cpu.medians[name]?.cpuRatioToReference ?? NaN;
  const scale = r.realtimeScale;
  const perSocket = scale.app.rssPerSocketKb / scale.reference.rssPerSocketKb;
  return [
    { goal: '/health CPU per request', target: '≤ 1.2× bare Express', measured: `${ratio('app /health')}×`, met: ratio('app /health') <= 1.2 },
    { goal: 'access-logged route CPU per request', target: '≤ 1.3× bare Express', measured: `${ratio('app /api/status (access-logged)')}×`, met: ratio('app /api/status (access-logged)') <= 1.3 },
    { goal: 'database read route CPU per request', target: '≤ 1.3× Express + pg, same query', measured: `${toReference('app database read')}×`, met: toReference('app database read') <= 1.3 },
    { goal: 'database write route (insert + fan-out) CPU per request', target: '≤ 1.5× Express + pg + Redis publish', measured: `${toReference('app database write')}×`, met: toReference('app database write') <= 1.5 },
    { goal: 'idle RSS per API instance', target: '≤ 80 MB', measured: `${appIdle} MB`, met: appIdle <= 80 },
    { goal: 'RSS after load', target: '≤ 1.3× bare Express after load', measured: `${appGrowth} MB vs ${expressAfter} MB (${Math.round((appGrowth / expressAfter) * 100) / 100}×)`, met: appGrowth <= 1.3 * expressAfter },
    { goal: 'worker idle RSS', target: '≤ 80 MB', measured: `${r.memory.workerIdle} MB`, met: r.memory.workerIdle <= 80 },
    { goal: `${scale.app.clients} sockets on one instance`, target: 'no error; RSS per idle socket ≤ 1.2× the reference app', measured: `${scale.app.delivered}/${scale.app.expected} delivered; ${scale.app.rssPerSocketKb} vs ${scale.reference.rssPerSocketKb} kB (${Math.round(perSocket * 100) / 100}×)`, met: scale.app.delivered === scale.app.expected && perSocket <= 1.2 },
    { goal: `fan-out to a room of ${scale.app.clients}`, target: 'p99 ≤ the reference app\'s in the same run', measured: `p99 ${scale.app.p99Ms} vs ${scale.reference.p99Ms} ms`, met: scale.app.p99Ms <= scale.reference.p99Ms },
    { goal: 'no failed request over two reloads', target: '0 failed, 0 non-2xx', measured: `${r.reload.failed} failed, ${r.reload.non2xx} non-2xx`, met: r.reload.failed === 0 && r.reload.non2xx === 0 },
  ];
}
