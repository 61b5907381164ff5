import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';
import { projectRoot } from './package-info.js';

/**
 * The only reader of the environment (PM2's own variables aside, see cluster/identity.ts).
 * Every variable is validated once, at start; a bad value stops the process with one line
 * that names the variable and what it accepts.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
const DEV_JWT_SECRET = 'dev-only-insecure-secret-do-not-use-in-production';

function integer(min: number, max?: number) {
  const accepts = max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  const error = `must be ${accepts}`;
  const range = max === undefined ? z.number().min(min, { error }) : z.number().min(min, { error }).max(max, { error });
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, { error })
    .transform(Number)
    .pipe(range);
}

const boolean = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * Which proxies' X-Forwarded-For to believe (Express's `trust proxy`): `false` (none, the
 * default), `true` (one proxy in front: the address it saw is the client's), a hop count, or
 * the proxies' addresses/subnets (`loopback`, `10.0.0.0/8`, ...). `true` means one hop,
 * not Express's "trust every hop", which would let any client pick its own address by
 * sending X-Forwarded-For (and so dodge the per-address rate limit).
 */
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const trustProxy = z
  .string()
  .trim()
  .transform((value, ctx): false | number | string[] => {
    const lower = value.toLowerCase();
    if (['false', '0', 'no'].includes(lower)) return false;
    if (['true', 'yes'].includes(lower)) return 1;
    if (/^\d{1,2}$/.test(value)) return Number(value);
    const entries = value.split(',').map((entry) => entry.trim());
    const valid = (entry: string) => {
      const [address = '', bits, extra] = entry.split('/');
      if (PROXY_NAMES.has(entry)) return true;
      const family = isIP(address);
      return family !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)));
    };
    if (entries.every(valid)) return entries;
    ctx.addIssue({ code: 'custom', message: 'must be true/false, a number of proxies, or proxy addresses/subnets (loopback, 10.0.0.0/8, ...)' });
    return z.NEVER;
  });

// 0: the app sends none and the database's own setting applies. Needed behind PgBouncer, which
// refuses statement_timeout as a startup parameter (docs/database.md).
const statementTimeoutError = 'must be 0 or an integer from 100 to 600000';
const statementTimeout = z
  .string()
  .trim()
  .regex(/^\d+$/, { error: statementTimeoutError })
  .transform(Number)
  .pipe(z.number().refine((ms) => ms === 0 || (ms >= 100 && ms <= 600_000), { error: statementTimeoutError }));

// A size in bytes, or with K, M or G (powers of 1024): LOG_MAX_SIZE=10M, as PM2 writes sizes.
const byteSizeError = 'must be a size such as 10M, 500K or 1G (at least 1K)';
const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const byteSize = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^\d+[KMG]?$/, { error: byteSizeError })
  .transform((value) => Number(value.replace(/[KMG]$/, '')) * (UNITS[value.replace(/^\d+/, '')] ?? 1))
  .pipe(z.number().min(1024, { error: byteSizeError }));

/** `host:port,host:port`: where the Redis Sentinels listen (REDIS_SENTINELS). */
const sentinelList = z
  .string()
  .trim()
  .transform((value, ctx): { host: string; port: number }[] => {
    const entries = value.split(',').map((entry) => entry.trim());
    const parsed = entries.map((entry) => {
      // [::1]:26379 for an IPv6 address, host:26379 otherwise.
      const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
      const port = Number(match?.[3]);
      return match && port >= 1 && port <= 65535 ? { host: match[1] ?? match[2] ?? '', port } : undefined;
    });
    if (parsed.every((p) => p !== undefined)) return parsed;
    ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of host:port' });
    return z.NEVER;
  });

// A lifetime in seconds, written `86400`, `90s`, `30m`, `24h` or `7d`.
const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };
const durationError = 'must be a duration such as 3600, 30m, 24h or 7d (at least 60 s)';
const duration = z
  .string()
  .trim()
  .regex(/^\d+(s|m|h|d)?$/i, { error: durationError })
  .transform((value) => Number.parseInt(value, 10) * (DURATION_UNITS[value.replace(/^\d+/, '').toLowerCase()] ?? 1))
  .pipe(z.number().min(60, { error: durationError }).max(366 * 86_400, { error: durationError }));

function url(protocols: RegExp, accepts: string) {
  return z.url({ protocol: protocols, error: `must be ${accepts}` });
}

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { error: 'must be development, production or test' }).default('development'),
  HOST: z.string().trim().min(1, { error: 'must be a host name or address' }).default('0.0.0.0'),
  PORT: integer(0, 65535).default(3000),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  // Each process's PM2 log file is rotated once it reaches LOG_MAX_SIZE, keeping LOG_RETAIN
  // rotated files (observability/log-rotation.ts).
  LOG_MAX_SIZE: byteSize.default(10 * 1024 ** 2),
  LOG_RETAIN: integer(1, 1000).default(5),
  BODY_LIMIT: z
    .string()
    .trim()
    .regex(/^\d+(b|kb|mb)$/i, { error: 'must be a size such as 100kb or 1mb' })
    .default('100kb'),
  TRUST_PROXY: trustProxy.default(false),
  KEEP_ALIVE_TIMEOUT_MS: integer(1000, 600_000).default(5000),
  REQUEST_TIMEOUT_MS: integer(1000, 600_000).default(10_000),
  API_RATE_LIMIT: integer(0, 1_000_000).default(0),
  WRITE_RATE_LIMIT: integer(0, 1_000_000).default(60),
  // The drain's share of it (all but 3 s) holds the longest request: pool wait 3 s + statement 10 s.
  SHUTDOWN_TIMEOUT_MS: integer(1000, 600_000).default(16_000),
  DEBUG_ROUTES: boolean.optional(),

  DATABASE_URL: url(/^postgres(ql)?$/, 'a postgresql:// URL').default(
    'postgresql://postgres@127.0.0.1:5432/express_pm2_cluster',
  ),
  // Straight to PostgreSQL for the migrator (advisory lock, DDL), when DATABASE_URL goes through PgBouncer.
  MIGRATION_DATABASE_URL: url(/^postgres(ql)?$/, 'a postgresql:// URL').optional(),
  DB_CONNECTION_BUDGET: integer(2, 10_000).default(20),
  // Which processes share one database (its budget, membership, peers' health): by default the
  // host, port and name in DATABASE_URL; set one name where hosts reach it by different addresses.
  DB_SCOPE: z.string().trim().regex(/^[\w.-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, _ . or -' }).optional(),
  DB_POOL_MAX: integer(1, 10_000).optional(),
  DB_POOL_TIMEOUT_MS: integer(100, 60_000).default(3000),
  DB_STATEMENT_TIMEOUT_MS: statementTimeout.default(10_000),
  WORKER_DB_POOL_MAX: integer(1, 100).default(1),

  REDIS_URL: url(/^rediss?$/, 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  // Sentinel mode: the primary is asked of these Sentinels (and asked again after a failover).
  REDIS_SENTINELS: sentinelList.optional(),
  REDIS_SENTINEL_NAME: z.string().trim().regex(/^[\w.-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, _ . or -' }).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  // Overrides the password of REDIS_URL (the one way to give it in Sentinel mode without a URL).
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .trim()
    .regex(/^[\w.:-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, _ . : or -' })
    .default('epc:'),
  READY_TIMEOUT_MS: integer(50, 30_000).default(1000),

  ENABLE_CLUSTER: boolean.default(true),
  SOCKET_ALLOW_POLLING: boolean.default(false),
  SOCKET_CORS_ORIGIN: z.string().trim().min(1).default('*'),
  SOCKET_MAX_PAYLOAD_BYTES: integer(1024, 100_000_000).default(16_384),
  SOCKET_EVENT_RATE_LIMIT: integer(1, 100_000).default(20),
  MAX_SOCKETS_PER_USER: integer(0, 1_000_000).default(20),
  MAX_SOCKETS_PER_ADDRESS: integer(0, 1_000_000).default(50),
  SOCKET_CONNECT_TIMEOUT_MS: integer(1000, 600_000).default(5000),

  JWT_SECRET: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  JWT_MAX_TTL: duration.default(86_400),
  METRICS_TOKEN: z.string().trim().min(16, { error: 'must be at least 16 characters' }).optional(),
  LOG_LINES_PER_SECOND: integer(0, 1_000_000).default(100),

  WORKER_STATS_INTERVAL_MS: integer(200, 86_400_000).default(10_000),
  WORKER_PRUNE_INTERVAL_MS: integer(1000, 86_400_000).default(3_600_000),
  MESSAGE_RETENTION_DAYS: integer(1, 36_500).default(30),

  CLUSTER_WORKERS: integer(1, 1024).optional(),
  HOST_ID: z
    .string()
    .trim()
    .regex(/^[\w.:-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, _ . : or -' })
    .optional(),

  // OpenTelemetry's standard variables, read by its SDK itself (observability/tracing-sdk.ts).
  // Listed so that tracing is known to be on before anything loads, a bad value stops the start
  // like any other, and PM2 passes them to every instance on a reload. Tracing is on when an
  // OTLP endpoint is set and OTEL_SDK_DISABLED is not.
  OTEL_EXPORTER_OTLP_ENDPOINT: url(/^https?$/, 'an http:// or https:// URL').optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(/^https?$/, 'an http:// or https:// URL').optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(OTLP_PROTOCOLS, { error: `must be one of ${OTLP_PROTOCOLS.join(', ')}` }).optional(),
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).optional(),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  OTEL_TRACES_SAMPLER: z.enum(SAMPLERS, { error: `must be one of ${SAMPLERS.join(', ')}` }).optional(),
  OTEL_TRACES_SAMPLER_ARG: z.string().optional(),
  OTEL_SDK_DISABLED: boolean.optional(),
});

type Raw = z.infer<typeof schema>;

/** Every variable this module reads (the docs and .env.example are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(schema.shape));

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConfigOptions {
  /** False for tools that sign nothing (the migrator), so they run in production without the secret. */
  jwtSecretRequired?: boolean;
}

function build(raw: Raw, options: ConfigOptions) {
  const production = raw.NODE_ENV === 'production';
  if ((raw.REDIS_SENTINELS === undefined) !== (raw.REDIS_SENTINEL_NAME === undefined)) {
    throw new ConfigError('Invalid configuration: REDIS_SENTINELS and REDIS_SENTINEL_NAME must be set together (Sentinel mode) or not at all');
  }
  if (production && options.jwtSecretRequired !== false && (raw.JWT_SECRET === undefined || raw.JWT_SECRET.length < 32)) {
    throw new ConfigError('Invalid configuration: JWT_SECRET must be set to at least 32 characters when NODE_ENV=production');
  }
  return {
    env: raw.NODE_ENV,
    isProduction: production,
    // linesPerSecond: what client-caused lines may cost per instance (observability/log-budget.ts); 0 = no bound.
    log: { level: raw.LOG_LEVEL, maxBytes: raw.LOG_MAX_SIZE, retain: raw.LOG_RETAIN, linesPerSecond: raw.LOG_LINES_PER_SECOND },
    http: {
      host: raw.HOST,
      port: raw.PORT,
      bodyLimit: raw.BODY_LIMIT,
      trustProxy: raw.TRUST_PROXY,
      keepAliveTimeoutMs: raw.KEEP_ALIVE_TIMEOUT_MS,
      requestTimeoutMs: raw.REQUEST_TIMEOUT_MS,
      // Test-only routes (slow request, crash) never exist in production unless asked for.
      debugRoutes: raw.DEBUG_ROUTES ?? !production,
      // POST /api/dev/token mints a token for any name: never in production, whatever DEBUG_ROUTES says.
      devTokens: !production && (raw.DEBUG_ROUTES ?? true),
    },
    shutdown: { timeoutMs: raw.SHUTDOWN_TIMEOUT_MS },
    // Per minute, across the cluster; 0 turns a limit off.
    rateLimit: { apiPerAddress: raw.API_RATE_LIMIT, writesPerUser: raw.WRITE_RATE_LIMIT },
    db: {
      url: raw.DATABASE_URL,
      migrationUrl: raw.MIGRATION_DATABASE_URL ?? raw.DATABASE_URL,
      connectionBudget: raw.DB_CONNECTION_BUDGET,
      scope: databaseScope(raw.DATABASE_URL, raw.DB_SCOPE),
      poolMax: raw.DB_POOL_MAX,
      poolTimeoutMs: raw.DB_POOL_TIMEOUT_MS,
      statementTimeoutMs: raw.DB_STATEMENT_TIMEOUT_MS,
      workerPoolMax: raw.WORKER_DB_POOL_MAX,
    },
    redis: {
      url: raw.REDIS_URL,
      // Every connection of every process is made from these (redis/client.ts).
      password: raw.REDIS_PASSWORD,
      sentinel:
        raw.REDIS_SENTINELS && raw.REDIS_SENTINEL_NAME
          ? { sentinels: raw.REDIS_SENTINELS, name: raw.REDIS_SENTINEL_NAME, password: raw.REDIS_SENTINEL_PASSWORD }
          : undefined,
      keyPrefix: raw.REDIS_KEY_PREFIX,
      // The Socket.IO adapter's and the worker emitter's channel: both must use this one key.
      socketChannel: `${raw.REDIS_KEY_PREFIX}socket.io`,
    },
    readiness: { timeoutMs: raw.READY_TIMEOUT_MS },
    socket: {
      redisAdapter: raw.ENABLE_CLUSTER,
      allowPolling: raw.SOCKET_ALLOW_POLLING,
      corsOrigin: raw.SOCKET_CORS_ORIGIN,
      maxPayloadBytes: raw.SOCKET_MAX_PAYLOAD_BYTES,
      eventsPerSecond: raw.SOCKET_EVENT_RATE_LIMIT,
      // 0: no cap.
      maxPerUser: raw.MAX_SOCKETS_PER_USER,
      // Per instance, anonymous connections included; 0: no cap.
      maxPerAddress: raw.MAX_SOCKETS_PER_ADDRESS,
      connectTimeoutMs: raw.SOCKET_CONNECT_TIMEOUT_MS,
    },
    auth: { jwtSecret: raw.JWT_SECRET ?? DEV_JWT_SECRET, maxTtlSeconds: raw.JWT_MAX_TTL },
    // The scrape token: in production /metrics and the full /api/cluster-info need it (or, for the latter, a user token).
    metrics: { token: raw.METRICS_TOKEN },
    worker: {
      statsIntervalMs: raw.WORKER_STATS_INTERVAL_MS,
      pruneIntervalMs: raw.WORKER_PRUNE_INTERVAL_MS,
      retentionDays: raw.MESSAGE_RETENTION_DAYS,
    },
    nodeCluster: { workers: raw.CLUSTER_WORKERS },
    tracing: {
      enabled: (raw.OTEL_EXPORTER_OTLP_ENDPOINT ?? raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) !== undefined && raw.OTEL_SDK_DISABLED !== true,
      // Unset: the project's name; the role and instance go in service.instance.id.
      serviceName: raw.OTEL_SERVICE_NAME,
    },
    // Names this machine in the cluster's membership and metrics; distinct per host.
    cluster: { hostId: raw.HOST_ID ?? os.hostname() },
  };
}

export type Config = ReturnType<typeof build>;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Validates an environment; throws ConfigError with a one-line message on any bad value. */
/**
 * Members are grouped by the database they use (host, port and database name of its URL, or
 * DB_SCOPE where hosts reach one database by different addresses), so deployments on
 * different databases sharing one Redis and key prefix stay apart, and hosts on one database
 * share one budget.
 */
function databaseScope(databaseUrl: string, named?: string): string {
  if (named !== undefined) return `name-${named}`;
  const url = new URL(databaseUrl);
  const where = `${url.hostname.toLowerCase()}:${url.port || '5432'}${decodeURIComponent(url.pathname)}`;
  return createHash('sha256').update(where).digest('hex').slice(0, 16);
}

export function parseConfig(env: NodeJS.ProcessEnv, options: ConfigOptions = {}): Config {
  // An empty value (`DB_POOL_MAX=` in .env) means "not set", as it does for most tools.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      return `${name} ${issue.message} (got ${JSON.stringify(present[name])})`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  return deepFreeze(build(result.data, options));
}

/** Loads `.env` from the project root (real environment variables win) and validates. */
export function loadConfig(options: ConfigOptions = {}): Config {
  loadDotenv({ path: join(projectRoot, '.env'), quiet: true });
  return parseConfig(process.env, options);
}

/** For entry points: a bad configuration prints its one line and exits non-zero. */
export function loadConfigOrExit(options: ConfigOptions = {}): Config {
  try {
    return loadConfig(options);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
