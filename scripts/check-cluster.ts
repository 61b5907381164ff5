/**
 * The checks behind ./check-cluster.sh: proves a running deployment is really clustered. PM2
 * cluster mode, every instance online, answering with its own id and pid and present in the
 * cluster membership (/api/cluster-info `members`), its Socket.IO adapter, readiness, the
 * database budget, and load spread over every instance. Everything is asked of the cluster
 * (PM2, the instances, PostgreSQL), never read from log lines, so it holds at any LOG_LEVEL. Prints ✓/✗ with the figure for each check.
 * Exit status: 0 when every check passes, 1 when any fails, 2 on bad usage.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import pg from 'pg';
import { createTokenService } from '../src/auth/jwt.js';
import { loadConfig } from '../src/config/env.js';
import { projectRoot } from '../src/config/package-info.js';
import { askEach, execFileAsync, instanceIdOf, jlist, loadEcosystem, resolveInstances, type Pm2Process } from './pm2.js';

const USAGE = `Usage: ./check-cluster.sh [options]

  --url URL        base URL of the API (default: http://127.0.0.1:$PORT, PORT from the
                   environment or .env, else 3000)
  --name NAME      PM2 app name of the API (default: $API_NAME or "api")
  --expect N       expected instance count (default: what ecosystem.config.cjs resolves to,
                   i.e. the CPU count for 'max')
  --requests N     probe requests for the instance checks (default: 40)
  --load N         requests in the load check (default: 400)
  --json           print one JSON object instead of the ✓/✗ lines
  -h, --help       this help

PM2 is reached through the PM2_HOME of the environment, like the pm2 command.
Exit status: 0 when every check passes, 1 when any fails, 2 on bad usage.`;

class UsageError extends Error {}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface ClusterInfo {
  instanceId: number;
  pid: number;
  clusterMode: boolean;
  cpuCount: number;
  hostname: string;
  instances: number;
  db?: { budget: number };
  socket?: { adapter: 'redis' | 'memory' };
  members?: { host: string; role: string; pid: number; instanceId: number; claim: number }[];
}

const dotenv = existsSync(join(projectRoot, '.env')) ? parseDotenv(readFileSync(join(projectRoot, '.env'))) : {};
const setting = (name: string): string | undefined => process.env[name] ?? dotenv[name];

function parseArgs(argv: string[]) {
  const options = { url: '', name: setting('API_NAME') ?? 'api', expect: undefined as number | undefined, requests: 40, load: 400, json: false };
  const positive = (flag: string, value: string) => {
    if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`${flag} must be a positive integer`);
    return Number(value);
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const value = () => {
      const next = argv[i + 1];
      if (next === undefined || next === '') throw new UsageError(`${arg} needs a value (see --help)`);
      i += 1;
      return next;
    };
    if (arg === '--url') options.url = value();
    else if (arg === '--name') options.name = value();
    else if (arg === '--expect') options.expect = positive('--expect', value());
    else if (arg === '--requests') options.requests = positive('--requests', value());
    else if (arg === '--load') options.load = positive('--load', value());
    else if (arg === '--json') options.json = true;
    else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else throw new UsageError(`Unknown option: ${arg} (see --help)`);
  }
  options.url = (options.url || `http://127.0.0.1:${setting('PORT') ?? 3000}`).replace(/\/$/, '');
  return options;
}

/** The count ecosystem.config.cjs resolves the app to ('max' = the CPU count), as `npm start` scales to. */
function expectedFromEcosystem(name: string): number {
  process.env.API_NAME = name;
  const app = loadEcosystem().find((a) => a.name === name);
  return resolveInstances(app?.instances ?? 'max');
}

/** Connections this deployment's processes hold on its database (application_name api-<n> or worker, set by src/data/database.ts). */
async function countConnections(): Promise<{ total: number; byApplication: Record<string, number> }> {
  const client = new pg.Client({ connectionString: loadConfig().db.url, application_name: 'check-cluster' });
  await client.connect();
  try {
    const { rows } = await client.query<{ application_name: string; n: number }>(
      `SELECT application_name, count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND (application_name LIKE 'api-%' OR application_name = 'worker')
        GROUP BY application_name ORDER BY application_name`,
    );
    return { total: rows.reduce((sum, r) => sum + r.n, 0), byApplication: Object.fromEntries(rows.map((r) => [r.application_name, r.n])) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Requests to /api/status served so far per instance id, from the host-wide /metrics. */
async function servedByInstance(url: string, headers: Record<string, string>): Promise<Map<string, number>> {
  const served = new Map<string, number>();
  const res = await fetch(`${url}/metrics`, { headers, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}${res.status === 401 ? ' (in production it needs METRICS_TOKEN)' : ''}`);
  const text = await res.text();
  for (const line of text.split('\n')) {
    if (!line.startsWith('http_request_duration_seconds_count{') || !line.includes('route="/api/status"')) continue;
    const instance = /instance="([^"]*)"/.exec(line)?.[1];
    if (instance !== undefined) served.set(instance, (served.get(instance) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return served;
}

async function runLoad(url: string, requests: number): Promise<{ tool: string; ok: boolean }> {
  const hasAb = await execFileAsync('sh', ['-c', 'command -v ab']).then(() => true, () => false);
  const [tool, command, args] = hasAb
    ? ['ab', 'ab', ['-q', '-c', '10', '-n', String(requests), `${url}/api/status`]]
    : ['autocannon', join(projectRoot, 'node_modules', '.bin', 'autocannon'), ['-c', '10', '-a', String(requests), `${url}/api/status`]];
  const ok = await new Promise<boolean>((resolve) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error) => { resolve(error === null); });
  });
  return { tool, ok };
}

async function check(options: ReturnType<typeof parseArgs>, expect: number): Promise<Check[]> {
  const checks: Check[] = [];
  const record = (ok: boolean, name: string, detail: string) => checks.push({ ok, name, detail });

  // --- PM2 ---
  let api: Pm2Process[] = [];
  try {
    api = (await jlist()).filter((p) => p.name === options.name);
    record(true, 'PM2 reachable', `PM2_HOME=${process.env.PM2_HOME ?? '~/.pm2'}`);
    if (api.length === 0) record(false, `API app '${options.name}' found in PM2`, `no process named '${options.name}' (see --name)`);
    else {
      const modes = [...new Set(api.map((p) => p.pm2_env.exec_mode))].join(',');
      record(modes === 'cluster_mode', 'runs in cluster mode', modes === 'cluster_mode' ? `exec_mode ${modes}` : `exec_mode ${modes} (fork mode runs one process per app; set exec_mode: 'cluster')`);
      const online = api.filter((p) => p.pm2_env.status === 'online');
      record(online.length === api.length, 'every instance online', `${online.length}/${api.length} online${online.length === api.length ? '' : `: ${api.map((p) => `${instanceIdOf(p)}:${p.pm2_env.status}`).join(' ')}`}`);
      record(api.length === expect, 'instance count', `${api.length} (expected ${expect}${api.length === expect || options.expect !== undefined ? '' : ', what ecosystem.config.cjs resolves API_INSTANCES to; pass --expect N or the API_INSTANCES you started with'})`);
      record(true, 'restart counts', api.map((p) => `#${instanceIdOf(p)}: ${p.pm2_env.restart_time}`).join(', '));
    }
  } catch {
    record(false, 'PM2 reachable', 'pm2 jlist failed (is the cluster started, and PM2_HOME the same?)');
  }

  // --- the instances answer, and the membership agrees with PM2 ---
  const infos: ClusterInfo[] = [];
  // In production the membership is shown only to a caller with a token: this one is signed with JWT_SECRET.
  const authorization = `Bearer ${await createTokenService(loadConfig().auth.jwtSecret).sign('check-cluster', '5m')}`;
  for (let i = 0; i < options.requests; i += 1) {
    try {
      const res = await fetch(`${options.url}/api/cluster-info`, { headers: { connection: 'close', authorization }, signal: AbortSignal.timeout(5000) });
      infos.push((await res.json()) as ClusterInfo);
    } catch {
      // counted as no answer
    }
  }
  const latest = infos.at(-1);
  if (!latest) record(false, '/api/cluster-info answers', `no answer from ${options.url}`);
  else {
    const ids = [...new Set(infos.map((i) => i.instanceId))].sort((a, b) => a - b);
    const pids = new Set(infos.map((i) => i.pid));
    const detail = `${ids.length} instance ids [${ids.join(',')}], ${pids.size} pids over ${infos.length} requests`;
    record(ids.length >= expect && pids.size >= expect, 'answers from every instance', ids.length >= expect && pids.size >= expect ? detail : `${detail} (expected ${expect})`);
    const clustered = infos.every((i) => i.clusterMode);
    record(clustered, 'clusterMode reported', `clusterMode ${clustered ? 'true on every answer' : 'false on some answer'}; cpuCount ${latest.cpuCount}`);

    const members = latest.members ?? [];
    const here = members.filter((m) => m.role === 'api' && m.host === latest.hostname);
    const memberPids = here.map((m) => m.pid).sort((a, b) => a - b);
    const pm2Pids = api.map((p) => p.pid).sort((a, b) => a - b);
    const hosts = new Set(members.map((m) => m.host)).size;
    const same = memberPids.join() === pm2Pids.join();
    record(
      same && latest.instances === members.filter((m) => m.role === 'api').length,
      'cluster membership matches PM2',
      `${here.length} API members on host ${latest.hostname} (pids ${memberPids.join(',') || 'none'})${same ? '' : `, PM2 runs pids ${pm2Pids.join(',') || 'none'}`}; ${latest.instances} API instance(s) on ${hosts} host(s), ${members.filter((m) => m.role === 'worker').length} worker(s)`,
    );
    const budget = latest.db?.budget;
    if (budget !== undefined) {
      const claims = members.reduce((sum, m) => sum + m.claim, 0);
      record(claims <= budget, 'pools within budget', `members claim ${members.map((m) => m.claim).join('+')} = ${claims} of DB_CONNECTION_BUDGET ${budget}`);
    }
  }

  // --- the Socket.IO adapter of every instance, asked of each (not read from its logs: a line
  // at info is not written at LOG_LEVEL=warn) ---
  const ids = new Set(api.length > 0 ? api.map(instanceIdOf) : Array.from({ length: expect }, (_, i) => String(i)));
  const adapters = await askEach(`${options.url}/api/cluster-info`, ids, async (res) => ((await res.json()) as ClusterInfo).socket?.adapter, { authorization });
  const notRedis = [...adapters].filter(([, adapter]) => adapter !== 'redis').map(([id, adapter]) => `#${id}: ${adapter}`);
  record(
    adapters.size >= Math.min(expect, ids.size) && notRedis.length === 0,
    'Redis adapter on every instance',
    notRedis.length === 0 && adapters.size >= expect
      ? `socket.adapter 'redis' on ${adapters.size} instances`
      : `${adapters.size}/${expect} instances answered; not 'redis': ${notRedis.join(' ') || 'none'} (ENABLE_CLUSTER=false? events would stay in one instance)`,
  );

  // --- readiness on every instance ---
  const ready = await askEach(`${options.url}/ready`, ids, (res) => Promise.resolve(res.status));
  const notReady = [...ready].filter(([, status]) => status !== 200).map(([id, status]) => `#${id}: ${status}`);
  record(
    ready.size >= Math.min(expect, ids.size) && notReady.length === 0,
    '/ready on every instance',
    notReady.length === 0 && ready.size >= expect ? `200 from ${ready.size} instances` : `${ready.size}/${expect} instances answered; not ready: ${notReady.join(' ') || 'none'}`,
  );

  // --- database budget ---
  try {
    const { total, byApplication } = await countConnections();
    const budget = latest?.db?.budget ?? loadConfig().db.connectionBudget;
    const detail = `${total} connections (${Object.entries(byApplication).map(([app, n]) => `${app} ${n}`).join(', ')}), budget ${budget}`;
    record(total <= budget, 'database connections within budget', detail);
  } catch (error) {
    record(false, 'database connections within budget', `cannot count: ${error instanceof Error ? error.message : String(error)}`);
  }

  // --- load spread ---
  try {
    // The scrape token when one is set (production refuses /metrics without it).
    const scrapeToken = loadConfig().metrics.token;
    const headers: Record<string, string> = scrapeToken === undefined ? {} : { authorization: `Bearer ${scrapeToken}` };
    const before = await servedByInstance(options.url, headers);
    const { tool, ok } = await runLoad(options.url, options.load);
    // One gathering of /metrics serves every scrape for a second (cluster-metrics.ts): wait it out.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const after = await servedByInstance(options.url, headers);
    const delta = [...after].map(([id, n]) => [id, n - (before.get(id) ?? 0)] as const).sort(([a], [b]) => Number(a) - Number(b));
    const total = delta.reduce((sum, [, n]) => sum + n, 0);
    const hit = delta.filter(([, n]) => n > 0).length;
    const shares = delta.map(([id, n]) => `#${id} ${n} (${total ? Math.round((100 * n) / total) : 0}%)`).join(' ') || 'none';
    record(ok && hit >= expect, 'load spread over every instance', ok && hit >= expect ? `${tool}, ${total} requests: ${shares}` : `${tool}${ok ? '' : ' (failed)'}, ${total} requests reached ${hit}/${expect} instances: ${shares}`);
  } catch (error) {
    record(false, 'load spread over every instance', `cannot read /metrics: ${error instanceof Error ? error.message : String(error)}`);
  }
  return checks;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseArgs>;
  let expect: number;
  try {
    options = parseArgs(process.argv.slice(2));
    expect = options.expect ?? expectedFromEcosystem(options.name);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
  const checks = await check(options, expect);
  const failed = checks.filter((c) => !c.ok).length;
  if (options.json) {
    console.log(JSON.stringify({ ok: failed === 0, url: options.url, app: options.name, expected: expect, checks }, null, 2));
  } else {
    const [ok, ko] = process.stdout.isTTY ? ['\u001b[32m✓\u001b[0m', '\u001b[31m✗\u001b[0m'] : ['✓', '✗'];
    console.log(`Cluster check: ${options.url}, PM2 app '${options.name}', expecting ${expect} instances`);
    for (const c of checks) console.log(`  ${c.ok ? ok : ko} ${c.name}: ${c.detail}`);
    console.log(failed === 0 ? 'All checks passed.' : `${failed} check(s) failed.`);
  }
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
