import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from './helpers/api.js';
import { freePort, waitFor } from './helpers/services.js';

describe('an instance that stays unready', () => {
  let api: TestApi;
  let port: number;
  before(async () => {
    // Nothing listens on this port: the database check fails on every /ready.
    port = await freePort();
    api = await startTestApi(`postgresql://postgres@127.0.0.1:${port}/nowhere`, { LOG_LEVEL: 'info' });
  });
  after(async () => {
    await api.stop();
  });

  it('logs the outage once, at warn, with the reason and no stack, however often /ready is asked', async () => {
    // The start-up grace (a few seconds) passes before the first dependency-down is logged.
    await waitFor('the outage to be logged', async () => {
      assert.equal((await fetch(`${api.url}/ready`)).status, 503);
      return api.logs.some((l) => l.event === 'dependency-down');
    }, 20_000);
    for (let i = 0; i < 20; i += 1) assert.equal((await fetch(`${api.url}/ready`)).status, 503);

    const down = api.logs.filter((l) => l.event === 'dependency-down');
    const [line] = down;
    assert.ok(line && down.length === 1, JSON.stringify(down));
    assert.equal(line.level, 'warn');
    assert.equal(line.dependency, 'database');
    assert.match(String(line.reason), new RegExp(String(port)), 'says why: the address that refused');
    assert.doesNotMatch(JSON.stringify(api.logs), /"stack"|\n\s+at /, 'no line carries a stack trace');
    assert.deepEqual(api.logs.filter((l) => l.level === 'error'), [], 'no error lines');
    const probes = api.logs.filter((l) => (l.req as { url?: string } | undefined)?.url === '/ready');
    assert.deepEqual(probes, [], 'the 503 answers are probe lines, below info');
  });
});
