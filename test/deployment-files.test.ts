import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { CONFIG_VARIABLES, parseConfig } from '../src/config/env.js';
import { execFileAsync, ROOT } from './helpers/services.js';

/**
 * No Docker engine or Kubernetes runs here, so these check what can be checked without one:
 * the files parse, every command and path they use exists, and ports, probes, timeouts and
 * instance counts agree with the app.
 */

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
const DEFAULT_PORT = parseConfig({}).http.port;
/** Variables PM2's ecosystem file reads besides the app's own. */
const ECOSYSTEM_VARIABLES = ['API_INSTANCES', 'API_NAME', 'WORKER_NAME', 'MAX_MEMORY_RESTART', 'MAX_OLD_SPACE_MB', 'WORKER_MAX_OLD_SPACE_MB', 'LISTEN_TIMEOUT_MS'];
const KNOWN_VARIABLES = new Set([...CONFIG_VARIABLES, ...ECOSYSTEM_VARIABLES]);

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions, with line continuations joined and comments dropped. */
function dockerInstructions(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    current += (current ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      logical.push(current);
      current = '';
    }
  }
  let stage = -1;
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    if (keyword.toUpperCase() === 'FROM') stage += 1;
    return { keyword: keyword.toUpperCase(), args: rest.join(' '), stage };
  });
}

/** PM2's kill_timeout for the given environment, as ecosystem.config.cjs computes it. */
async function killTimeoutMs(env: Record<string, string>): Promise<number> {
  const { stdout } = await execFileAsync(process.execPath, ['-e', "console.log(require('./ecosystem.config.cjs').apps[0].kill_timeout)"], { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
  return Number(stdout.trim());
}

describe('Dockerfile', () => {
  const instructions = dockerInstructions(read('Dockerfile'));
  const stages = instructions.filter((i) => i.keyword === 'FROM');
  const final = instructions.filter((i) => i.stage === stages.length - 1);

  it('builds in one stage with dev dependencies and runs production dependencies in another', () => {
    assert.ok(stages.length >= 2);
    assert.ok(instructions.some((i) => i.stage === 0 && i.keyword === 'RUN' && /npm ci(?!.*--omit=dev)/.test(i.args)));
    assert.ok(instructions.some((i) => i.stage === 0 && i.keyword === 'RUN' && i.args.includes('npm run build')));
    assert.ok('build' in packageJson.scripts);
    assert.ok(final.some((i) => i.keyword === 'RUN' && i.args.includes('npm ci --omit=dev')));
    assert.ok(final.some((i) => i.keyword === 'COPY' && i.args.startsWith('--from=build /app/dist')));
  });

  it('runs as a non-root user under pm2-runtime with the production env', () => {
    const user = final.filter((i) => i.keyword === 'USER').at(-1);
    assert.ok(user && !['root', '0'].includes(user.args));
    const cmd = final.find((i) => i.keyword === 'CMD');
    assert.deepEqual(JSON.parse(cmd?.args ?? '[]'), ['node_modules/.bin/pm2-runtime', 'start', 'ecosystem.config.cjs', '--env', 'production']);
    assert.ok(existsSync(join(ROOT, 'node_modules/.bin/pm2-runtime')), 'pm2-runtime comes with the pm2 dependency');
    assert.ok(final.some((i) => i.keyword === 'COPY' && i.args.includes('ecosystem.config.cjs')));
  });

  it('exposes the app port and health-checks /health on it', () => {
    assert.equal(final.find((i) => i.keyword === 'EXPOSE')?.args, String(DEFAULT_PORT));
    const healthcheck = final.find((i) => i.keyword === 'HEALTHCHECK');
    assert.match(healthcheck?.args ?? '', /CMD .*\/health/);
    assert.match(healthcheck?.args ?? '', new RegExp(`process\\.env\\.PORT \\|\\| ${DEFAULT_PORT}`));
  });

  it('keeps PM2\'s kill_timeout below docker stop\'s default 10 s grace period', async () => {
    const env = final.find((i) => i.keyword === 'ENV')?.args ?? '';
    const shutdown = /SHUTDOWN_TIMEOUT_MS=(\d+)/.exec(env)?.[1];
    assert.ok(shutdown, 'the image sets SHUTDOWN_TIMEOUT_MS');
    assert.ok((await killTimeoutMs({ SHUTDOWN_TIMEOUT_MS: shutdown })) < 10_000);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
    for (const copy of instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
        assert.ok(!ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)), `${source} is not in .dockerignore`);
      }
    }
    for (const mustStayOut of ['node_modules', '.env', '.git', 'dist']) assert.ok(ignored.includes(mustStayOut), `.dockerignore keeps out ${mustStayOut}`);
  });
});

describe('docker-compose.yml', () => {
  const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, { command?: string[]; environment?: Record<string, string>; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>; ports?: string[]; cpus?: string; stop_grace_period?: string; build?: string; image?: string }>;
  };
  const { app, postgres, redis, migrate } = compose.services;

  it('has the app, PostgreSQL, Redis and a one-shot migration, each database and the app health-checked', () => {
    assert.ok(app && postgres && redis && migrate);
    for (const service of [app, postgres, redis]) assert.ok(service.healthcheck?.test.length);
    assert.match(app.healthcheck?.test.join(' ') ?? '', /\/health/);
    assert.equal(migrate.build, '.');
    assert.deepEqual(migrate.command, ['node', 'dist/scripts/migrate.js']);
    assert.ok(existsSync(join(ROOT, 'scripts/migrate.ts')), 'dist/scripts/migrate.js is built from scripts/migrate.ts');
  });

  it('starts the app only on healthy services and a completed migration', () => {
    assert.deepEqual(app?.depends_on, {
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    assert.deepEqual(migrate?.depends_on, { postgres: { condition: 'service_healthy' } });
  });

  it('limits the app to 4 CPUs and runs 4 instances on them', () => {
    assert.ok(app);
    assert.equal(app.cpus, '4');
    assert.equal(app.environment?.API_INSTANCES, '4');
  });

  it('publishes the port the app listens on, and stops slower than PM2 kills', async () => {
    const port = app?.environment?.PORT ?? String(DEFAULT_PORT);
    assert.ok(app?.ports?.some((p) => p.endsWith(`:${port}`)));
    const grace = Number(/^(\d+)s$/.exec(app?.stop_grace_period ?? '')?.[1]) * 1000;
    assert.ok(grace > (await killTimeoutMs({ SHUTDOWN_TIMEOUT_MS: '6000' })));
  });

  it('sets only variables the app or the ecosystem file reads, and they validate', () => {
    for (const service of [app, migrate]) {
      for (const name of Object.keys(service?.environment ?? {})) assert.ok(KNOWN_VARIABLES.has(name), `${name} is a known variable`);
    }
    const appEnv = Object.fromEntries(Object.entries(app?.environment ?? {}).map(([k, v]) => [k, v.replace(/\$\{JWT_SECRET:-([^}]*)\}/, '$1')]));
    assert.doesNotThrow(() => parseConfig(appEnv));
  });
});

describe('Kubernetes manifests', () => {
  const docs = readdirSync(join(ROOT, 'deploy/k8s'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(read(`deploy/k8s/${f}`)).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown>; data?: Record<string, string>; stringData?: Record<string, string> }));
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const [deployment] = byKind('Deployment') as unknown as {
    metadata: { name: string };
    spec: {
      selector: { matchLabels: Record<string, string> };
      template: {
        metadata: { labels: Record<string, string> };
        spec: {
          terminationGracePeriodSeconds: number;
          containers: {
            ports: { name: string; containerPort: number }[];
            readinessProbe: { httpGet: { path: string; port: string } };
            livenessProbe: { httpGet: { path: string; port: string } };
            lifecycle: { preStop: { exec: { command: string[] } } };
            resources: { limits: { cpu: string } };
            envFrom: ({ configMapRef?: { name: string }; secretRef?: { name: string } })[];
          }[];
        };
      };
    };
  }[];
  const config = byKind('ConfigMap')[0]?.data ?? {};
  const container = deployment?.spec.template.spec.containers[0];

  it('has a Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, ConfigMap, Secret and migration Job', () => {
    for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ConfigMap', 'Secret', 'Job']) assert.equal(byKind(kind).length, 1, kind);
  });

  it('probes readiness on /ready and liveness on /health, on the port the app listens on', () => {
    assert.ok(container);
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    assert.equal(container.livenessProbe.httpGet.path, '/health');
    const http = container.ports.find((p) => p.name === container.readinessProbe.httpGet.port);
    assert.ok(http && deployment);
    assert.equal(http.containerPort, Number(config.PORT));
    const service = byKind('Service')[0]?.spec as { ports: { targetPort: string }[]; selector: Record<string, string> };
    assert.equal(service.ports[0]?.targetPort, http.name);
    assert.deepEqual(service.selector, deployment.spec.template.metadata.labels);
  });

  it('drains before SIGTERM and finishes before Kubernetes kills', async () => {
    const sleep = Number(container?.lifecycle.preStop.exec.command.at(-1));
    assert.ok(sleep > 0);
    const kill = await killTimeoutMs({ SHUTDOWN_TIMEOUT_MS: config.SHUTDOWN_TIMEOUT_MS ?? '' });
    assert.ok(sleep * 1000 + kill < (deployment?.spec.template.spec.terminationGracePeriodSeconds ?? 0) * 1000);
  });

  it('runs one PM2 instance per CPU of the pod limit', () => {
    assert.equal(config.API_INSTANCES, container?.resources.limits.cpu);
  });

  it('points the PDB and HPA at the Deployment', () => {
    const pdb = byKind('PodDisruptionBudget')[0]?.spec as { selector: { matchLabels: Record<string, string> } };
    assert.deepEqual(pdb.selector.matchLabels, deployment?.spec.selector.matchLabels);
    const hpa = byKind('HorizontalPodAutoscaler')[0]?.spec as { scaleTargetRef: { kind: string; name: string }; maxReplicas: number };
    assert.deepEqual([hpa.scaleTargetRef.kind, hpa.scaleTargetRef.name], ['Deployment', deployment?.metadata.name]);
    // The budget is per pod: at full scale the pods must fit a default max_connections of 100.
    assert.ok(hpa.maxReplicas * Number(config.DB_CONNECTION_BUDGET) <= 100 - 10);
  });

  it('configures only known variables, which validate together', () => {
    const secret = byKind('Secret')[0]?.stringData ?? {};
    for (const name of [...Object.keys(config), ...Object.keys(secret)]) assert.ok(KNOWN_VARIABLES.has(name), `${name} is a known variable`);
    assert.doesNotThrow(() => parseConfig({ ...config, ...secret, JWT_SECRET: 'x'.repeat(32) }));
    const refs = container?.envFrom.map((e) => e.configMapRef?.name ?? e.secretRef?.name);
    assert.deepEqual(refs, [byKind('ConfigMap')[0]?.metadata.name, byKind('Secret')[0]?.metadata.name]);
  });
});

describe('.env.example and docs/configuration.md', () => {
  it('list every variable the config module and the ecosystem file read', () => {
    const example = read('.env.example');
    const reference = read('docs/configuration.md');
    for (const name of KNOWN_VARIABLES) {
      assert.match(example, new RegExp(`^#? ?${name}=`, 'm'), `.env.example has ${name}`);
      assert.ok(reference.includes(`\`${name}\``), `docs/configuration.md has ${name}`);
    }
  });
});
