import { Writable } from 'node:stream';
import { startApi, type RunningApi } from '../../src/api.js';
import { parseConfig, type Config } from '../../src/config/env.js';
import { createProcessLogger } from '../../src/observability/logger.js';
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

/**
 * One API instance in the test's own process, on a free port, against real PostgreSQL and
 * Redis (its own Redis key prefix). The configuration is only what is given here, never the
 * test runner's environment. Stop it with `stop()`.
 */
export async function startTestApi(databaseUrl: string, env: Record<string, string> = {}): Promise<TestApi> {
  const config = parseConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    REDIS_KEY_PREFIX: `${uniqueName('t')}:`,
    LOG_LEVEL: 'info',
    ...env,
  });
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const api = await startApi(config, { logger: createProcessLogger(config, { role: 'api', instanceId: 0 }, sink) });
  return { ...api, config, logs };
}
