import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { CONFIG_VARIABLES, parseConfig, type Config } from '../src/config/env.js';
import { shutdownBudget } from '../src/lifecycle/shutdown.js';
import { parseIni } from './helpers/pgbouncer.js';
import { execFileAsync, ROOT } from './helpers/services.js';

/**
 * No Docker engine or Kubernetes runs here, so these check what can be checked without one:
 * the files parse, every command and path they use exists, and ports, probes, timeouts,
 * memory, connection budgets and security settings agree with the app and with each other.
 * The arithmetic is the one docs/deployment.md explains.
 */

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string>; engines: { node: string }; dependencies: Record<string, string> };
const DEFAULT_PORT = parseConfig({}).http.port;
/** Variables PM2's ecosystem file reads besides the app's own. */
const ECOSYSTEM_VARIABLES = ['API_INSTANCES', 'API_NAME', 'WORKER_NAME', 'MAX_MEMORY_RESTART', 'WORKER_MAX_MEMORY_RESTART', 'MAX_OLD_SPACE_MB', 'WORKER_MAX_OLD_SPACE_MB', 'LISTEN_TIMEOUT_MS', 'LOG_TO_FILES'];
const KNOWN_VARIABLES = new Set([...CONFIG_VARIABLES, ...ECOSYSTEM_VARIABLES]);
/** What the Secret holds (docs/deployment.md creates it with `kubectl create secret`). */
const SECRET_KEYS = ['DATABASE_URL', 'MIGRATION_DATABASE_URL', 'REDIS_URL', 'JWT_SECRET'];

/** Node.js LTS lines and their end of life (nodejs/Release schedule). A line past it fails here. */
const NODE_LTS_END_OF_LIFE: Record<number, string> = { 22: '2027-04-30', 24: '2028-04-30', 26: '2029-04-30' };

// Memory besides PM2's per-app thresholds, measured under pm2-runtime on Node 24.21 (docs/deployment.md):
// pm2-runtime itself (81 MiB RSS after 10 s of load), and a fresh API instance (137 MiB RSS at
// start), which PM2 runs beside one it restarts for memory (that restart is a reload: new first).
const PM2_RUNTIME_MIB = 96;
const FRESH_INSTANCE_MIB = 160;
/** A container's memory limit stays this far above what PM2 lets its processes reach. */
const MEMORY_HEADROOM = 1.2;
/** PostgreSQL's superuser_reserved_connections default, and the compose database's migrator + psql sessions. */
const PG_SUPERUSER_RESERVED = 3;
const COMPOSE_OTHER_CONNECTIONS = 7;

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

/** `ENV A=1 B=2` instructions of a stage, as a map. */
function dockerEnv(instructions: Instruction[]): Record<string, string> {
  return Object.fromEntries(instructions.filter((i) => i.keyword === 'ENV').flatMap((i) => i.args.split(/\s+/).map((pair) => pair.split('=') as [string, string])));
}

interface Pm2App {
  name: string;
  env: Record<string, string>;
  kill_timeout: number;
  max_memory_restart?: string;
  instances: number | string;
  log_date_format?: string;
  out_file?: string;
  error_file?: string;
}

/** The PM2 apps as ecosystem.config.cjs computes them for an environment (only that environment). */
async function ecosystemApps(env: Record<string, string>): Promise<Pm2App[]> {
  const { stdout } = await execFileAsync(process.execPath, ['-e', "console.log(JSON.stringify(require('./ecosystem.config.cjs').apps))"], { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
  return JSON.parse(stdout) as Pm2App[];
}

/** Megabytes (MiB) in PM2 ("512M"), Kubernetes ("2Gi", "1536Mi") or compose ("2g") notation. */
function mebibytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(k|ki|m|mi|g|gi)?b?$/i.exec(quantity.trim());
  assert.ok(match, `a memory quantity: ${quantity}`);
  const unit = (match[2] ?? '').toLowerCase().replace('i', '');
  const factor = { '': 1 / (1024 * 1024), k: 1 / 1024, m: 1, g: 1024 }[unit];
  return Number(match[1]) * (factor ?? Number.NaN);
}

/** What PM2 lets the processes of one container reach before it restarts one of them. */
async function memoryNeededMib(env: Record<string, string>): Promise<number> {
  const apps = await ecosystemApps(env);
  let total = PM2_RUNTIME_MIB + FRESH_INSTANCE_MIB;
  for (const app of apps) {
    assert.ok(app.max_memory_restart, `${app.name} has a max_memory_restart`);
    total += mebibytes(app.max_memory_restart) * Number(app.instances);
  }
  return total;
}

/**
 * The HTTP drain closes idle keep-alive connections itself after a short grace, so only the
 * longest request (pool wait + statement timeout) needs the drain's budget, the part of
 * SHUTDOWN_TIMEOUT_MS the instance gives it (src/lifecycle/shutdown.ts); a request longer
 * than that is cut off by every stop.
 */
function assertDrainFits(config: Config, where: string) {
  assert.ok(config.db.statementTimeoutMs > 0, `${where}: a statement timeout bounds the longest request`);
  const longest = config.db.poolTimeoutMs + config.db.statementTimeoutMs;
  const { drainMs } = shutdownBudget(config.shutdown.timeoutMs);
  assert.ok(longest <= drainMs, `${where}: the longest request (${longest} ms) outlasts the drain (${drainMs} ms of SHUTDOWN_TIMEOUT_MS ${config.shutdown.timeoutMs})`);
}

/** The final (runtime) stage's instructions. */
function runtimeStage(instructions: Instruction[]): Instruction[] {
  const last = Math.max(...instructions.map((i) => i.stage));
  return instructions.filter((i) => i.stage === last);
}

describe('Dockerfile', () => {
  const instructions = dockerInstructions(read('Dockerfile'));
  const stages = instructions.filter((i) => i.keyword === 'FROM');
  const final = runtimeStage(instructions);
  const env = dockerEnv(final);

  it("gives pm2-runtime the API's MALLOC_* settings: its cluster instances start with its environment, not the ecosystem file's", async () => {
    const [api] = await ecosystemApps({});
    const malloc = Object.entries(api?.env ?? {}).filter(([name]) => name.startsWith('MALLOC_'));
    assert.ok(malloc.length >= 2, 'the ecosystem file sets MALLOC_* for the API');
    for (const [name, value] of malloc) assert.equal(env[name], value, name);
  });

  it('builds in one stage with dev dependencies and runs production dependencies, without install scripts, in another', () => {
    assert.ok(stages.length >= 2);
    assert.ok(instructions.some((i) => i.stage === 0 && i.keyword === 'RUN' && /npm ci(?!.*--omit=dev)/.test(i.args)));
    assert.ok(instructions.some((i) => i.stage === 0 && i.keyword === 'RUN' && i.args.includes('npm run build')));
    assert.ok('build' in packageJson.scripts);
    assert.ok(final.some((i) => i.keyword === 'RUN' && /npm ci --omit=dev --ignore-scripts/.test(i.args)));
    assert.ok(final.some((i) => i.keyword === 'COPY' && i.args.startsWith('--from=build /app/dist')));
  });

  it('is based on a Node.js LTS line that is still supported, and one package.json "engines" names', () => {
    const version = /^NODE_VERSION=(\d+)\.\d+\.\d+$/.exec(instructions.find((i) => i.keyword === 'ARG')?.args ?? '');
    assert.ok(version, 'ARG NODE_VERSION pins major.minor.patch');
    const major = Number(version[1]);
    const endOfLife = NODE_LTS_END_OF_LIFE[major];
    assert.ok(endOfLife, `Node ${major} is an LTS line`);
    assert.ok(Date.now() < Date.parse(endOfLife), `Node ${major} reached its end of life on ${endOfLife}`);
    for (const stage of stages) assert.match(stage.args, /^node:\$\{NODE_VERSION\}-/);
    assert.match(packageJson.engines.node, new RegExp(`\\^${major}\\.`), 'engines lists the image\'s major version');
  });

  it('runs as a non-root user under pm2-runtime, whose own lines are JSON too, with the production env', () => {
    const user = final.filter((i) => i.keyword === 'USER').at(-1);
    assert.ok(user && !['root', '0'].includes(user.args));
    const cmd = JSON.parse(final.find((i) => i.keyword === 'CMD')?.args ?? '[]') as string[];
    assert.deepEqual(cmd, ['node', 'dist/scripts/pm2-runtime.js', 'start', 'ecosystem.config.cjs', '--env', 'production']);
    assert.ok(existsSync(join(ROOT, 'scripts/pm2-runtime.ts')), 'dist/scripts/pm2-runtime.js is built from scripts/pm2-runtime.ts');
    assert.ok(existsSync(join(ROOT, 'node_modules/pm2/lib/binaries/Runtime4Docker.js')), 'pm2-runtime comes with the pm2 dependency');
    assert.ok(final.some((i) => i.keyword === 'COPY' && i.args.includes('ecosystem.config.cjs')));
    assert.equal(env.NODE_ENV, 'production');
  });

  it('writes only under /tmp (PM2_HOME), so the root filesystem can be read-only, and no log files there', async () => {
    assert.match(env.PM2_HOME ?? '', /^\/tmp\//);
    for (const app of await ecosystemApps(env)) assert.deepEqual([app.out_file, app.error_file], ['/dev/null', '/dev/null'], app.name);
  });

  it('carries the live page and, as a production dependency, the Socket.IO browser client it loads', () => {
    assert.ok(final.some((i) => i.keyword === 'COPY' && i.args === 'public ./public'));
    assert.ok('socket.io-client' in packageJson.dependencies, 'npm ci --omit=dev installs socket.io-client');
  });

  it('exposes the app port and health-checks /health on it', () => {
    assert.equal(final.find((i) => i.keyword === 'EXPOSE')?.args, String(DEFAULT_PORT));
    const healthcheck = final.find((i) => i.keyword === 'HEALTHCHECK');
    assert.match(healthcheck?.args ?? '', /CMD .*\/health/);
    assert.match(healthcheck?.args ?? '', new RegExp(`process\\.env\\.PORT \\|\\| ${DEFAULT_PORT}`));
  });

  it('gives the drain room for the longest request with the image\'s defaults', () => {
    assertDrainFits(parseConfig(env, { jwtSecretRequired: false }), 'image');
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

describe('ecosystem.config.cjs', () => {
  it('adds no date prefix to the apps\' JSON log lines', async () => {
    for (const app of await ecosystemApps({ NODE_ENV: 'production' })) assert.equal(app.log_date_format, undefined, app.name);
  });

  it('gives every app a memory threshold above its V8 heap limit', async () => {
    const apps = await ecosystemApps({});
    const { stdout } = await execFileAsync(process.execPath, ['-e', "console.log(JSON.stringify(require('./ecosystem.config.cjs').apps.map((a) => a.node_args)))"], { cwd: ROOT, env: { PATH: process.env.PATH } });
    const heaps = (JSON.parse(stdout) as string[][]).map((args) => Number(/--max-old-space-size=(\d+)/.exec(args.join(' '))?.[1]));
    apps.forEach((app, i) => {
      assert.ok(mebibytes(app.max_memory_restart ?? '0') > (heaps[i] ?? Infinity), app.name);
    });
  });
});

type ComposeService = {
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  cpus?: string;
  mem_limit?: string;
  stop_grace_period?: string;
  build?: string;
  image?: string;
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  security_opt?: string[];
};

describe('docker-compose.yml', () => {
  const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
  const { app, postgres, redis, migrate } = compose.services as Record<'app' | 'postgres' | 'redis' | 'migrate', ComposeService>;
  const imageEnv = dockerEnv(runtimeStage(dockerInstructions(read('Dockerfile'))));
  const SECRET = 'x'.repeat(32);
  /** The app's environment as the container sees it: the image's ENV, then compose's, the secret interpolated. */
  const appEnv = (): Record<string, string> => ({ ...imageEnv, ...app.environment, JWT_SECRET: SECRET });

  it('has the app, PostgreSQL, Redis and a one-shot migration, each database and the app health-checked', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['app', 'migrate', 'postgres', 'redis']);
    for (const service of [app, postgres, redis]) assert.ok(service.healthcheck?.test.length);
    assert.match(app.healthcheck?.test.join(' ') ?? '', /\/health/);
    assert.equal(migrate.build, '.');
    assert.deepEqual(migrate.command, ['node', 'dist/scripts/migrate.js']);
    assert.ok(existsSync(join(ROOT, 'scripts/migrate.ts')), 'dist/scripts/migrate.js is built from scripts/migrate.ts');
  });

  it('checks PostgreSQL over TCP, which the image\'s init-only server does not listen on', () => {
    const [kind, command = ''] = postgres.healthcheck?.test ?? [];
    assert.equal(kind, 'CMD-SHELL');
    assert.deepEqual(command.split(/\s+/).slice(0, 3), ['pg_isready', '-h', '127.0.0.1']);
  });

  it('starts the app only on healthy services and a completed migration', () => {
    assert.deepEqual(app.depends_on, {
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    assert.deepEqual(migrate.depends_on, { postgres: { condition: 'service_healthy' } });
  });

  it('refuses to start without a JWT secret, and gives it to the app only', () => {
    assert.match(app.environment?.JWT_SECRET ?? '', /^\$\{JWT_SECRET:\?[^}]+\}$/, 'compose stops with an error when JWT_SECRET is unset or empty');
    assert.equal(migrate.environment?.JWT_SECRET, undefined);
  });

  it('migrates PostgreSQL directly, with database settings only', () => {
    assert.ok(migrate.environment?.MIGRATION_DATABASE_URL);
    const config = parseConfig({ ...imageEnv, ...migrate.environment }, { jwtSecretRequired: false });
    assert.equal(config.db.migrationUrl, migrate.environment.MIGRATION_DATABASE_URL);
    assert.throws(() => parseConfig({ ...imageEnv, ...migrate.environment }), /JWT_SECRET/, 'the app itself would refuse to start without the secret');
  });

  it('runs one instance per CPU it gets, on a host with 2 CPUs', () => {
    assert.ok(Number(app.cpus) <= 2, 'docker refuses more CPUs than the host has');
    assert.equal(app.environment?.API_INSTANCES, app.cpus);
  });

  it('limits memory above the sum of PM2\'s restart thresholds, with headroom', async () => {
    const needed = await memoryNeededMib(appEnv());
    const limit = mebibytes(app.mem_limit ?? '0');
    assert.ok(limit >= needed * MEMORY_HEADROOM, `mem_limit ${limit} MiB < ${needed} MiB x ${MEMORY_HEADROOM}`);
  });

  it('publishes the port the app listens on; drains within the deadline, and stops slower than PM2 kills', async () => {
    const config = parseConfig(appEnv());
    assert.ok(app.ports?.some((p) => p.endsWith(`:${config.http.port}`)));
    assertDrainFits(config, 'compose app');
    const [api] = await ecosystemApps(appEnv());
    const grace = Number(/^(\d+)s$/.exec(app.stop_grace_period ?? '')?.[1]) * 1000;
    assert.ok(grace > (api?.kill_timeout ?? Infinity), `stop_grace_period ${grace} ms <= kill_timeout ${api?.kill_timeout}`);
  });

  it('sizes the connection budget for every process, within max_connections', () => {
    const config = parseConfig(appEnv());
    const maxConnections = Number(/max_connections=(\d+)/.exec(postgres.command?.join(' ') ?? '')?.[1]);
    const members = Number(app.environment?.API_INSTANCES) + config.db.workerPoolMax;
    assert.ok(members <= config.db.connectionBudget, `${members} processes need at least one connection each`);
    assert.ok(config.db.connectionBudget <= maxConnections - PG_SUPERUSER_RESERVED - COMPOSE_OTHER_CONNECTIONS, `budget ${config.db.connectionBudget} leaves no room for superusers, the migrator and psql`);
  });

  it('runs the app and the migration with a read-only root filesystem, no capabilities, no privilege escalation', () => {
    for (const service of [app, migrate]) {
      assert.equal(service.read_only, true);
      assert.ok(service.tmpfs?.includes('/tmp'), 'PM2_HOME lives under /tmp');
      assert.deepEqual(service.cap_drop, ['ALL']);
      assert.ok(service.security_opt?.includes('no-new-privileges:true'));
    }
  });

  it('sets only variables the app or the ecosystem file reads, and they validate', () => {
    for (const service of [app, migrate]) {
      for (const name of Object.keys(service.environment ?? {})) assert.ok(KNOWN_VARIABLES.has(name), `${name} is a known variable`);
    }
    assert.doesNotThrow(() => parseConfig(appEnv()));
  });
});

interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
  lifecycle?: { preStop?: { exec: { command: string[] } } };
  resources: { requests?: { cpu?: string; memory?: string }; limits: { cpu?: string; memory: string } };
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; privileged?: boolean; runAsNonRoot?: boolean; runAsUser?: number; capabilities?: { drop?: string[]; add?: string[] }; seccompProfile?: { type: string } };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodSpec {
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  hostPID?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  containers: Container[];
  volumes?: { name: string; emptyDir?: object; hostPath?: object }[];
}

interface Manifest {
  kind: string;
  metadata: { name?: string; generateName?: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  data?: Record<string, string>;
}

/**
 * Pod Security Standards, "restricted" profile: non-root, no privilege escalation, every
 * capability dropped, a RuntimeDefault seccomp profile, no host namespaces or paths; plus a
 * read-only root filesystem, with /tmp (PM2_HOME) an emptyDir.
 */
function assertRestricted(pod: PodSpec, where: string) {
  assert.ok(!pod.hostNetwork && !pod.hostPID, `${where}: no host namespaces`);
  assert.ok(!(pod.volumes ?? []).some((v) => v.hostPath), `${where}: no hostPath volumes`);
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    const at = `${where}/${c.name}`;
    assert.equal(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, true, `${at}: runAsNonRoot`);
    assert.notEqual(sc.runAsUser ?? pod.securityContext?.runAsUser, 0, `${at}: not uid 0`);
    assert.equal(sc.privileged ?? false, false, `${at}: not privileged`);
    assert.equal(sc.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation false`);
    assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${at}: drops every capability`);
    assert.ok((sc.capabilities.add ?? []).every((cap) => cap === 'NET_BIND_SERVICE'), `${at}: adds none but NET_BIND_SERVICE`);
    assert.ok(['RuntimeDefault', 'Localhost'].includes((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type ?? ''), `${at}: seccomp RuntimeDefault`);
    assert.equal(sc.readOnlyRootFilesystem, true, `${at}: read-only root filesystem`);
  }
}

describe('Kubernetes manifests', () => {
  const files = readdirSync(join(ROOT, 'deploy/k8s')).filter((f) => /\.(ya?ml|json)$/.test(f));
  const docs = files.flatMap((f) => parseAllDocuments(read(`deploy/k8s/${f}`)).map((d) => d.toJS() as Manifest));
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const deployment = byKind('Deployment')[0] as Manifest & {
    spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; strategy: { rollingUpdate: { maxSurge: number; maxUnavailable: number } }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
  };
  const job = byKind('Job')[0] as Manifest & { spec: { template: { spec: PodSpec & { restartPolicy: string } } } };
  const configMap = byKind('ConfigMap')[0] as Manifest;
  const config = configMap.data ?? {};
  const hpa = byKind('HorizontalPodAutoscaler')[0]?.spec as { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number };
  const pdb = byKind('PodDisruptionBudget')[0]?.spec as { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0] as Container;
  const secretName = container.envFrom?.find((e) => e.secretRef)?.secretRef?.name;
  /** The pods' configuration, with a secret standing in for the one the Secret holds. */
  const podConfig = () => parseConfig({ ...config, DATABASE_URL: 'postgresql://app@postgres:5432/express_pm2_cluster', JWT_SECRET: 'x'.repeat(32) });
  const annotation = (name: string) => Number(configMap.metadata.annotations?.[`express-pm2-cluster/${name}`]);

  it('has a Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, ConfigMap and migration Job, and no Secret', () => {
    for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ConfigMap', 'Job']) assert.equal(byKind(kind).length, 1, kind);
    // `kubectl apply -f deploy/k8s/` would apply an example Secret over the real one.
    assert.equal(byKind('Secret').length, 0);
  });

  it('lets `kubectl apply -f` create everything but the Job, which only `kubectl create` can (a fresh one per release)', () => {
    for (const doc of docs.filter((d) => d.kind !== 'Job')) assert.ok(doc.metadata.name && !doc.metadata.generateName, `${doc.kind} has a fixed name`);
    assert.equal(job.metadata.name, undefined);
    assert.match(job.metadata.generateName ?? '', /-$/);
  });

  it('leaves the replica count to the HPA', () => {
    assert.equal(deployment.spec.replicas, undefined, 'spec.replicas beside an HPA scales back on every apply');
    assert.deepEqual([hpa.scaleTargetRef.kind, hpa.scaleTargetRef.name], ['Deployment', deployment.metadata.name]);
    assert.ok(hpa.minReplicas >= 2 && hpa.minReplicas <= hpa.maxReplicas);
    assert.deepEqual(pdb.selector.matchLabels, deployment.spec.selector.matchLabels);
  });

  it('runs the same placeholder image in the Job and the Deployment, which release.sh replaces, never :latest', () => {
    const jobContainer = job.spec.template.spec.containers[0];
    assert.equal(jobContainer?.image, container.image);
    assert.doesNotMatch(container.image, /:latest$|^[^:@]+$/);
    for (const c of [container, jobContainer]) assert.equal(c.imagePullPolicy, 'IfNotPresent');
    const script = read('deploy/k8s/release.sh');
    assert.ok(script.includes(`"${container.name}=$image"`) && script.includes(`"${jobContainer.name}=$image"`), 'release.sh sets the image of both containers by name');
  });

  it('release.sh refuses an image reference that names no one release', async () => {
    for (const image of ['registry.example.com/epc:latest', 'registry.example.com/epc', 'registry.example.com:5000/epc']) {
      await assert.rejects(execFileAsync('bash', [join(ROOT, 'deploy/k8s/release.sh'), '--render', image]), (error: { code: number; stderr: string }) => error.code === 2 && /Refusing/.test(error.stderr), image);
    }
  });

  it('release.sh renders this release\'s Job and Deployment with its image (kubectl set image --local)', async (t) => {
    try {
      await execFileAsync('kubectl', ['version', '--client']);
    } catch {
      t.skip('kubectl is not installed');
      return;
    }
    const image = 'registry.example.com/express-pm2-cluster:1.4.2';
    const { stdout } = await execFileAsync('bash', [join(ROOT, 'deploy/k8s/release.sh'), '--render', image]);
    const [renderedJob, renderedDeployment] = parseAllDocuments(stdout).map((d) => d.toJS() as typeof job & typeof deployment);
    assert.equal(renderedJob?.metadata.generateName, job.metadata.generateName);
    assert.equal(renderedJob?.spec.template.spec.containers[0]?.image, image);
    assert.equal(renderedDeployment?.spec.template.spec.containers[0]?.image, image);
  });

  it('migrates with MIGRATION_DATABASE_URL from the Secret, and without the JWT secret', () => {
    const jobPod = job.spec.template.spec;
    const migrator = jobPod.containers[0] as Container;
    assert.deepEqual(migrator.command, ['node', 'dist/scripts/migrate.js']);
    assert.equal(jobPod.restartPolicy, 'Never');
    assert.deepEqual(migrator.env?.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.key]), [['MIGRATION_DATABASE_URL', secretName, 'MIGRATION_DATABASE_URL']]);
    assert.ok(!migrator.envFrom?.some((e) => e.secretRef), 'the Job does not get the whole Secret');
    assert.doesNotThrow(() => parseConfig({ ...config, MIGRATION_DATABASE_URL: 'postgresql://owner@postgres:5432/express_pm2_cluster' }, { jwtSecretRequired: false }));
  });

  it('meets Pod Security "restricted", with a writable /tmp for PM2', () => {
    assertRestricted(pod, 'Deployment');
    assertRestricted(job.spec.template.spec, 'Job');
    const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
    assert.ok(tmp && pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, 'PM2_HOME (/tmp) is an emptyDir');
  });

  it('probes readiness on /ready and liveness on /health, on the port the app listens on', () => {
    assert.equal(container.readinessProbe?.httpGet.path, '/ready');
    assert.equal(container.livenessProbe?.httpGet.path, '/health');
    const http = container.ports?.find((p) => p.name === container.readinessProbe?.httpGet.port);
    assert.ok(http);
    assert.equal(http.containerPort, podConfig().http.port);
    const service = byKind('Service')[0]?.spec as { ports: { targetPort: string }[]; selector: Record<string, string> };
    assert.equal(service.ports[0]?.targetPort, http.name);
    assert.deepEqual(service.selector, deployment.spec.template.metadata.labels);
  });

  it('drains within the shutdown deadline, and finishes preStop plus PM2\'s kill_timeout before Kubernetes kills', async () => {
    assertDrainFits(podConfig(), 'pods');
    const sleep = Number(container.lifecycle?.preStop?.exec.command.at(-1));
    assert.ok(sleep > 0);
    const apps = await ecosystemApps(config);
    const kill = Math.max(...apps.map((a) => a.kill_timeout));
    const grace = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
    assert.ok(sleep * 1000 + kill < grace, `preStop ${sleep} s + kill_timeout ${kill} ms >= grace ${grace} ms`);
  });

  it('runs one PM2 instance per CPU of the pod limit', () => {
    assert.equal(config.API_INSTANCES, container.resources.limits.cpu);
  });

  it('limits memory above the sum of PM2\'s restart thresholds, with headroom, and requests what it limits', async () => {
    const needed = await memoryNeededMib(config);
    const limit = mebibytes(container.resources.limits.memory);
    assert.ok(limit >= needed * MEMORY_HEADROOM, `limit ${limit} MiB < ${needed} MiB x ${MEMORY_HEADROOM}`);
    assert.equal(container.resources.requests?.memory, container.resources.limits.memory, 'no node overcommits the memory PM2 counts on');
  });

  it('sizes DB_CONNECTION_BUDGET for the worst moment of a rollout, within max_connections', () => {
    const db = podConfig().db;
    const { maxSurge, maxUnavailable } = deployment.spec.strategy.rollingUpdate;
    assert.equal(maxUnavailable, 0, 'no pod leaves before its replacement serves');
    // Running pods never pass maxReplicas + maxSurge; terminating pods are not counted against
    // maxSurge, and each keeps its connections until its pool closes: every pod of the
    // previous generation may still be terminating when the new one is complete.
    const running = hpa.maxReplicas + maxSurge;
    const terminating = hpa.maxReplicas + maxSurge;
    const membersPerPod = Number(config.API_INSTANCES) + db.workerPoolMax;
    const worst = (running + terminating) * membersPerPod;
    assert.ok(worst <= db.connectionBudget, `${worst} processes at the worst moment, each holding at least 1 connection, > budget ${db.connectionBudget}`);
    const room = annotation('postgres-max-connections') - annotation('postgres-superuser-reserved-connections') - annotation('postgres-migration-and-admin-connections');
    assert.ok(room > 0, 'the ConfigMap states what the budget is sized against');
    assert.ok(db.connectionBudget <= room, `budget ${db.connectionBudget} > ${room} connections PostgreSQL has for the app`);
  });

  it('configures only known variables, which validate together with the Secret\'s', () => {
    for (const name of [...Object.keys(config), ...SECRET_KEYS]) assert.ok(KNOWN_VARIABLES.has(name), `${name} is a known variable`);
    assert.doesNotThrow(() => podConfig());
    assert.throws(() => parseConfig(config), /JWT_SECRET/, 'a pod without the Secret refuses to start');
    const refs = container.envFrom?.map((e) => e.configMapRef?.name ?? e.secretRef?.name);
    assert.deepEqual(refs, [configMap.metadata.name, secretName]);
  });
});

describe('deploy/pgbouncer/pgbouncer.ini', () => {
  const ini = parseIni(read('deploy/pgbouncer/pgbouncer.ini'));
  const settings = ini.pgbouncer ?? {};
  const k8s = parseAllDocuments(read('deploy/k8s/configmap.yaml'))[0]?.toJS() as Manifest;
  const annotation = (name: string) => Number(k8s.metadata.annotations?.[`express-pm2-cluster/${name}`]);

  it('pools transactions, and never drops statement_timeout silently', () => {
    assert.equal(settings.pool_mode, 'transaction');
    assert.ok(!(settings.ignore_startup_parameters ?? '').includes('statement_timeout'));
    assert.ok(Number(settings.query_wait_timeout) > 0, 'a query does not wait 120 s for a server connection');
  });

  it('takes every client connection the Kubernetes budget allows, and holds server connections within max_connections', () => {
    assert.ok(Number(settings.max_client_conn) >= Number(k8s.data?.DB_CONNECTION_BUDGET));
    const servers = Math.min(Number(settings.default_pool_size) + Number(settings.reserve_pool_size), Number(settings.max_db_connections));
    const room = annotation('postgres-max-connections') - annotation('postgres-superuser-reserved-connections') - annotation('postgres-migration-and-admin-connections');
    assert.ok(servers > 0 && servers <= room, `${servers} server connections > ${room}`);
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

  it('give the drain room for the longest request, with the file as it is and with no variable set', () => {
    const example: Record<string, string> = {};
    for (const [, name = '', value = ''] of read('.env.example').matchAll(/^([A-Z0-9_]+)=(.*)$/gm)) example[name] = value;
    assertDrainFits(parseConfig({ ...example, JWT_SECRET: '' }, { jwtSecretRequired: false }), '.env.example');
    assertDrainFits(parseConfig({}, { jwtSecretRequired: false }), 'defaults');
  });
});
