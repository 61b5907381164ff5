import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { minimumBudget } from '../src/cluster/pool-share.js';
import { execFileAsync, ROOT } from './helpers/services.js';

/**
 * Configuration that cannot work is refused by `npm start` (scripts/deploy.ts) before anything
 * starts: one line naming what to change, exit 1, no migration, no PM2 daemon. The database
 * URL points where nothing listens, so a start that went as far as migrating would say so.
 */

const pm2Home = mkdtempSync(join(tmpdir(), 'epc-pm2-'));
after(() => {
  rmSync(pm2Home, { recursive: true, force: true });
});

async function deploy(extra: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const env = {
    PATH: process.env.PATH,
    PM2_HOME: pm2Home,
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere',
    REDIS_URL: 'redis://127.0.0.1:1',
    ...extra,
  };
  try {
    await execFileAsync(process.execPath, ['dist/scripts/deploy.js'], { cwd: ROOT, env, timeout: 30_000 });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failed = error as { code: number; stderr: string };
    return { code: failed.code, stderr: failed.stderr };
  }
}

function assertRefused(result: { code: number; stderr: string }, line: string): void {
  assert.equal(result.code, 1);
  assert.deepEqual(result.stderr.trim().split('\n'), [line]);
  assert.equal(existsSync(join(pm2Home, 'pm2.pid')), false, 'no PM2 daemon was started');
}

describe('npm start refuses configuration that cannot work', () => {
  it('a DB_CONNECTION_BUDGET below one connection per API instance plus the worker\'s pool, naming the minimum', async () => {
    assertRefused(
      await deploy({ API_INSTANCES: '2', DB_CONNECTION_BUDGET: '2' }),
      "Invalid configuration: DB_CONNECTION_BUDGET must be at least 3 for 2 API instance(s) and the worker's pool of 1 on this host; got 2",
    );
    assertRefused(
      await deploy({ API_INSTANCES: '4', DB_CONNECTION_BUDGET: '6', WORKER_DB_POOL_MAX: '3' }),
      "Invalid configuration: DB_CONNECTION_BUDGET must be at least 7 for 4 API instance(s) and the worker's pool of 3 on this host; got 6",
    );
  });

  it('API_INSTANCES=0, which PM2 would silently read as max', async () => {
    assertRefused(
      await deploy({ API_INSTANCES: '0' }),
      `Invalid configuration: API_INSTANCES must be 'max' (one per CPU), a number from 1, or a negative number (CPUs minus N); got "0" (PM2 would read 0 as max)`,
    );
  });

  it('the minimum is the worker\'s pool plus one connection per API instance', () => {
    assert.equal(minimumBudget({ workerPool: 1 }, 2), 3);
    assert.equal(minimumBudget({ workerPool: 2 }, 8), 10);
  });
});
