/**
 * `npm run bench [-- --quick]`: the questions a team asks about this app's cost, answered side by
 * side with bare node:http, bare Express and a minimal Socket.IO + Redis adapter app, in one
 * run on the machine at hand. Writes bench/results/<date>.json, a Markdown summary and SVG
 * charts next to it (or to --out). docs/benchmarks.md says how to read them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, sleep } from '../test/helpers/services.js';
import { load1, pssMb, rssMb } from './measure/proc.js';
import { startApp, startReference, type Target } from './measure/targets.js';
import { evaluateGoals } from './report/goals.js';
import { markdown, mean } from './report/markdown.js';
import { barChart } from './report/svg.js';
import type { MemoryFigures, Results } from './results.js';
import { cpuSection, EXPRESS_RUN, type CpuRun } from './sections/cpu.js';
import { databaseSection, READ_PATH, seedMessages, WRITE_PATH, writeRequest } from './sections/database.js';
import { realtimeSection } from './sections/realtime.js';
import { realtimeScaleSection } from './sections/realtime-scale.js';
import { reloadSection } from './sections/reload.js';
import { scalingSection } from './sections/scaling.js';
import { readSettings } from './settings.js';

const settings = readSettings(process.argv.slice(2));
const started = performance.now();
const log = (line: string) => { console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`); };
const instances = os.availableParallelism();
const meta = { date: new Date().toISOString(), load1Start: load1() };

const rss = async (target: Target, app?: string) => (await target.pids(app)).map(rssMb);
const pss = async (target: Target, app?: string) => (await target.pids(app)).map(pssMb);
const db = await createTestDatabase();
const targets: Target[] = [];
try {
  log(`${settings.mode} run: ${settings.rounds} rounds of ${settings.seconds} s, ${instances} instances per target, load ${load1()}`);
  // Started together (each has its own PM2_HOME); every one that started is stopped at the end, even if another failed.
  const start = async <T extends Target>(promise: Promise<T>) => { const t = await promise; targets.push(t); log(`started ${t.name}`); return t; };
  const starting = [
    start(startReference('bare node:http', 'bare-http', { instances })),
    start(startReference('bare Express', 'bare-express', { instances })),
    start(startReference('Socket.IO reference', 'socketio-redis', { instances })),
    start(startApp('app', { instances, databaseUrl: db.url })),
    start(startApp('app, 1 instance', { instances: 1, databaseUrl: db.url, apiOnly: true })),
    // Reads and writes the app's database (migrated by the app's start) with pg alone.
    start(startReference('Express + pg', 'express-pg', { instances, env: { DATABASE_URL: db.url } })),
    start(startReference('Socket.IO reference, 1 instance', 'socketio-redis', { instances: 1 })),
  ] as const;
  await Promise.allSettled(starting);
  const [http, express, reference, app, appOne, expressPg, referenceOne] = await Promise.all(starting);
  await sleep(settings.settleSeconds * 1000);
  const idle = { http: await rss(http), express: await rss(express), reference: await rss(reference), app: await rss(app) };
  const idlePss = { http: await pss(http), express: await pss(express), reference: await pss(reference), app: await pss(app) };
  const workerIdle = (await rss(app, 'worker'))[0] ?? 0;
  const workerIdlePss = (await pss(app, 'worker'))[0] ?? 0;
  log(`idle RSS: http ${idle.http.join('/')}, express ${idle.express.join('/')}, app ${idle.app.join('/')}, worker ${workerIdle} MB (PSS app ${idlePss.app.join('/')}, worker ${workerIdlePss})`);
  await seedMessages(app, 20);
  const write = await writeRequest();

  const runs: CpuRun[] = [
    { name: 'bare node:http', target: http, path: '/health' },
    { name: EXPRESS_RUN, target: express, path: '/health' },
    { name: 'app /health', target: app, path: '/health' },
    { name: 'app /api/status (access-logged)', target: app, path: '/api/status' },
    { name: 'Express + pg read', target: expressPg, path: READ_PATH },
    { name: 'app database read', target: app, path: READ_PATH, reference: 'Express + pg read' },
    { name: 'Express + pg + Redis publish write', target: expressPg, path: WRITE_PATH, post: write },
    { name: 'app database write', target: app, path: WRITE_PATH, post: write, reference: 'Express + pg + Redis publish write' },
  ];
  const cpu = await cpuSection(runs, settings, log);
  const scaling = await scalingSection(appOne, app, settings, log);
  const served = (target: Target) => cpu.rounds.reduce((sum, r) => sum + runs.filter((run) => run.target === target).reduce((s, run) => s + (r.figures[run.name]?.complete ?? 0), 0), 0);
  // Each target's memory as its own last run of section 1 ended: read at the end of the section,
  // bare Express would have idled a minute longer than the app, and V8 shrinks an idle heap.
  const lastRound = cpu.rounds.at(-1);
  const afterLoad = (target: Target) => {
    const name = lastRound?.order.filter((n) => runs.find((run) => run.name === n)?.target === target).at(-1);
    const figures = name === undefined ? undefined : lastRound?.figures[name];
    return { afterLoad: figures?.rssAfter ?? [], afterLoadPss: figures?.pssAfter ?? [] };
  };
  const memory: Record<string, MemoryFigures> = {
    'bare node:http': { idle: idle.http, idlePss: idlePss.http, ...afterLoad(http), requestsServed: served(http) },
    'bare Express': { idle: idle.express, idlePss: idlePss.express, ...afterLoad(express), requestsServed: served(express) },
    app: { idle: idle.app, idlePss: idlePss.app, ...afterLoad(app), requestsServed: served(app) },
  };
  const database = await databaseSection(app, db.name, settings, log);
  const { realtime, rssAtMost } = await realtimeSection(app, reference, settings, log);
  (memory.app as MemoryFigures).after1000Sockets = rssAtMost.app;
  memory['Socket.IO reference'] = { idle: idle.reference, afterLoad: rssAtMost.reference, after1000Sockets: rssAtMost.reference, idlePss: idlePss.reference, afterLoadPss: [], requestsServed: 0 };
  const realtimeScale = await realtimeScaleSection(appOne, referenceOne, settings, log);
  const reload = await reloadSection(app);
  log(`reload: ${reload.complete} complete, ${reload.failed} failed, ${reload.non2xx} non-2xx`);

  const cpuInfo = os.cpus()[0];
  const results: Results = {
    meta: {
      date: meta.date,
      mode: settings.mode,
      cpus: instances,
      cpuModel: cpuInfo?.model ?? 'unknown',
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      instances,
      rounds: settings.rounds,
      seconds: settings.seconds,
      concurrency: settings.concurrency,
      load1Start: meta.load1Start,
      load1End: load1(),
      durationSeconds: Math.round((performance.now() - started) / 1000),
    },
    cpu,
    scaling,
    memory: { targets: memory, workerIdle, workerIdlePss },
    reload,
    realtime,
    realtimeScale,
    database,
    goals: [],
  };
  results.goals = evaluateGoals(results);

  mkdirSync(settings.out, { recursive: true });
  const stem = join(settings.out, meta.date.slice(0, 10));
  writeFileSync(`${stem}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${stem}.md`, markdown(results));
  const noteOf = (name: string) => {
    const s = cpu.medians[name];
    return s?.reference ? `(${s.cpuRatioToReference}× ${s.reference})` : `(${s?.cpuRatioToExpress}× Express)`;
  };
  writeFileSync(`${stem}-cpu.svg`, barChart(`CPU time per request, medians of ${settings.rounds} rounds (${instances} PM2 instances each)`, 'µs', cpu.runs.map((name) => ({ label: name, value: cpu.medians[name]?.cpuMicrosPerRequest ?? 0, note: noteOf(name) }))));
  writeFileSync(`${stem}-memory.svg`, barChart('RSS per instance (mean), MB', 'MB', Object.entries(memory).flatMap(([name, m]) => [
    { label: `${name}, idle`, value: Math.round(mean(m.idle) || 0) },
    { label: `${name}, after load`, value: Math.round(mean(m.afterLoad) || 0) },
  ])));
  const scale = [['app', realtimeScale.app], ['Socket.IO reference', realtimeScale.reference]] as const;
  writeFileSync(`${stem}-sockets.svg`, barChart(`${settings.scaleClients} sockets on one instance: RSS per idle socket, and ms until the last client has a message (median)`, '', scale.flatMap(([name, f]) => [
    { label: `${name}, kB per idle socket`, value: f.rssPerSocketKb },
    { label: `${name}, last client ms`, value: f.lastClientMedianMs, note: `(p50 ${f.p50Ms}, p99 ${f.p99Ms} ms)` },
  ])));
  console.log(`\n${markdown(results)}`);
  log(`results in ${stem}.json (.md, -cpu.svg, -memory.svg, -sockets.svg)`);
} finally {
  for (const target of targets.reverse()) await target.stop();
  await db.drop();
}
