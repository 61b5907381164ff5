import { Writable } from 'node:stream';
import { startApi, type RunningApi } from '../../src/api.js';
import { parseConfig, type Config } from '../../src/config/env.js';
import { createProcessLogger, type Logger } from '../../src/observability/logger.js';
import { startWorker, type RunningWorker } from '../../src/worker.js';
import { TEST_JWT_SECRET, uniqueName } from './services.js';

export interface LogLine {
  level: string;
  msg: string;
  event?: string;
  req?: { id?: string };
  [field: string]: unknown;
}

export interface TestApi extends RunningApi {
  config: Config;
  /** Every line the instance logged, parsed: tests match fields (an event), not wording. */
  logs: LogLine[];
}

/** The configuration a test process runs with: only what is given here, never the test runner's environment. */
function testConfig(databaseUrl: string, env: Record<string, string>): Config {
  return parseConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    REDIS_KEY_PREFIX: `${uniqueName('t')}:`,
    LOG_LEVEL: 'info',
    ...env,
  });
}

/** A logger whose lines land, parsed, in `logs`. */
function capturingLogger(config: Config, role: 'api' | 'worker'): { logger: Logger; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: createProcessLogger(config, { role, instanceId: 0 }, sink), logs };
}

/**
 * One API instance in the test's own process, on a free port, against real PostgreSQL and
 * Redis (its own Redis key prefix unless `env` names one). Stop it with `stop()`.
 */
export async function startTestApi(databaseUrl: string, env: Record<string, string> = {}): Promise<TestApi> {
  const config = testConfig(databaseUrl, env);
  const { logger, logs } = capturingLogger(config, 'api');
  const api = await startApi(config, { logger });
  return { ...api, config, logs };
}

export interface TestWorker extends RunningWorker {
  config: Config;
  logs: LogLine[];
}

/** The background worker in the test's own process, as startTestApi runs an API instance. */
export async function startTestWorker(databaseUrl: string, env: Record<string, string> = {}): Promise<TestWorker> {
  const config = testConfig(databaseUrl, env);
  const { logger, logs } = capturingLogger(config, 'worker');
  const worker = await startWorker(config, { logger });
  return { ...worker, config, logs };
}
