import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { createTokenService } from '../src/auth/jwt.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { postMessage } from './helpers/realtime.js';
import { createTestDatabase, execFileAsync, freePort, ROOT, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';

const DIR = join(ROOT, 'deploy', 'observability');
const JOB = 'express-pm2-cluster';

interface Rules { groups: { rules: { alert?: string; expr: string; for?: string }[] }[] }
interface Dashboard { panels: { title: string; targets: { expr: string }[] }[] }
interface QueryAnswer { status: string; data: { result: unknown[] } }
interface Alert { labels: Record<string, string>; state: string }

const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as Rules;
const alerts = rules.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);
const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as Dashboard;

/** A dashboard query as Grafana sends it: its variables filled in. */
const dashboardQuery = (expr: string) => expr.replaceAll('$__rate_interval', '10s').replaceAll('$job', JOB).replaceAll('$host', '.*');

/**
 * An alert's condition, one operand per line between `and on(...)` / `unless` lines (as
 * alerts.yml writes them), each with its final comparison made `bool`: it then returns a series
 * whether or not the alert would fire, and none only if a name or label is wrong.
 */
const operands = (expr: string) =>
  expr
    .split(/^\s*(?:and|unless|or)\b.*$/m)
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => part.replace(/\s(==|!=|>=|<=|>|<)\s*(-?[\d.]+)$/, ' $1 bool $2'));

describe('deploy/observability against a real Prometheus scraping a PM2 cluster of 2', () => {
  let db: TestDatabase;
  let cluster: Cluster;
  let prometheus: ChildProcess;
  let promUrl: string;
  let dataDir: string;
  const query = async (expr: string) => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const answer = (await res.json()) as QueryAnswer;
    assert.equal(answer.status, 'success', `${expr}: ${JSON.stringify(answer)}`);
    return answer.data.result;
  };

  before(async () => {
    db = await createTestDatabase();
    cluster = await startCluster({ instances: 2, databaseUrl: db.url, apiOnly: true });
    // The shipped configuration, pointed at this cluster and scraping every second.
    dataDir = mkdtempSync(join(tmpdir(), 'epc-prom-'));
    const config = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { global: Record<string, string>; rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[]; scrape_timeout?: string }[] };
    config.global = { scrape_interval: '1s', evaluation_interval: '1s' };
    config.rule_files = config.rule_files.map((file) => join(DIR, file));
    for (const scrape of config.scrape_configs) {
      scrape.static_configs = [{ targets: [`127.0.0.1:${cluster.port}`] }];
      scrape.scrape_timeout = '1s';
    }
    writeFileSync(join(dataDir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn('/usr/bin/prometheus', [`--config.file=${join(dataDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dataDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });

    // Traffic for every panel: requests, a 404, messages, so the histograms have rates.
    const token = await createTokenService(TEST_JWT_SECRET).sign('watcher');
    for (let i = 0; i < 10; i += 1) {
      await fetch(`${cluster.baseUrl}/api/status`, { headers: { connection: 'close' } });
      await fetch(`${cluster.baseUrl}/no-such-page`, { headers: { connection: 'close' } });
      assert.equal((await postMessage(cluster.baseUrl, 'watched', { body: `m${i}` }, token, { headers: { connection: 'close' } })).status, 201);
    }
    await waitFor('Prometheus to scrape both instances a few times', async () => {
      try {
        const result = (await query(`count(count_over_time(nodejs_version_info{job="${JOB}"}[1m]) >= 3)`)) as { value: [number, string] }[];
        return result[0]?.value[1] === '2';
      } catch {
        return false;
      }
    }, 60_000, 500);
  });
  after(async () => {
    prometheus.kill('SIGTERM');
    await cluster.stop();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers every expression of the dashboard and of the alerts with data', async () => {
    const empty: string[] = [];
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) if ((await query(dashboardQuery(target.expr))).length === 0) empty.push(`${panel.title}: ${target.expr}`);
    }
    for (const alert of alerts) {
      for (const operand of operands(alert.expr)) if ((await query(operand)).length === 0) empty.push(`${alert.alert ?? ''}: ${operand}`);
    }
    assert.deepEqual(empty, []);
  });

  it('passes promtool check rules and promtool test rules, with a test case for every alert', async () => {
    await execFileAsync('promtool', ['check', 'rules', join(DIR, 'alerts.yml')]);
    await execFileAsync('promtool', ['test', 'rules', join(DIR, 'alerts.test.yml')]);
    const tested = new Set([...readFileSync(join(DIR, 'alerts.test.yml'), 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    assert.deepEqual(alerts.map((a) => a.alert).filter((name) => !tested.has(name)), []);
  });

  it('makes EpcInstanceMissing pending within its `for` window once an instance is stopped', async () => {
    const missing = alerts.find((a) => a.alert === 'EpcInstanceMissing');
    assert.equal(missing?.for, '1m');
    const api = (await cluster.jlist()).filter((p) => p.name === 'api');
    const victim = api.find((p) => String(p.pm2_env.NODE_APP_INSTANCE) === '1') ?? api[1];
    assert.ok(victim, JSON.stringify(api.map((p) => p.pm2_env)));
    await cluster.pm2('stop', String(victim.pm_id));
    const stoppedAt = Date.now();
    const alert = await waitFor('EpcInstanceMissing to be pending', async () => {
      const res = await fetch(`${promUrl}/api/v1/alerts`);
      const { data } = (await res.json()) as { data: { alerts: Alert[] } };
      return data.alerts.find((a) => a.labels.alertname === 'EpcInstanceMissing');
    }, 60_000, 500);
    assert.ok(Date.now() - stoppedAt < 60_000);
    assert.equal(alert.state, 'pending');
    assert.equal(alert.labels.instance, String(victim.pm2_env.NODE_APP_INSTANCE));
  });
});
