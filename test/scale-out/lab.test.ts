import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { down, up, type Lab } from '../../scripts/lab/lab.js';
import { installRelease, npmStart, pm2, prepareRelease } from '../../scripts/lab/hosts.js';
import { setHostLink, setHostRedisRoute } from '../../scripts/lab/network.js';
import { currentRedisPrimary, haproxyServers, killRedis } from '../../scripts/lab/services.js';
import { run } from '../../scripts/lab/shell.js';
import type { z } from 'zod';
import { createTokenService } from '../../src/auth/jwt.js';
import type { clusterInfoBody } from '../../src/cluster/schema.js';
import { follow, startWriter, type Follower, type Writer } from '../helpers/followers.js';
import { freePort, sleep, waitFor } from '../helpers/services.js';

/**
 * Several hosts for real (docs/scale-out.md): three hosts in network namespaces, each with its
 * own PM2 daemon running two API instances and the worker, started by the project's own
 * `npm start`; HAProxy in front; Redis with Sentinels; PostgreSQL through PgBouncer. A writer
 * posts through HAProxy and 300 clients follow their rooms through it with the page's recipe
 * while hosts are lost, cut off and upgraded. The same code as `npm run lab`.
 */

type ClusterInfo = z.infer<typeof clusterInfoBody>;

const asRoot = process.getuid?.() === 0;
const ROOMS = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
const BUDGET = 40;

let lab: Lab;
const name = `ept${randomBytes(2).toString('hex')}`;
/** 50 followers per room, 300 in all, through HAProxy. */
const followers = new Map<string, Follower[]>();
/** One writer per room, each posting through HAProxy. */
const writers = new Map<string, Writer>();
const allFollowers = () => [...followers.values()].flat();
let auth: { authorization: string };
let peakServerConnections = 0;
let sampler: NodeJS.Timeout | undefined;

async function pgCount(sql: string, params: unknown[], url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** One request on a connection of its own: HAProxy then opens a new one to the host, which PM2 gives to the next instance. */
async function info(): Promise<ClusterInfo> {
  const res = await fetch(`${lab.url}/api/cluster-info`, { headers: { ...auth, connection: 'close' }, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`cluster-info: ${res.status}`);
  return (await res.json()) as ClusterInfo;
}

/** Each host's PM2 processes: name, pid, restarts. */
async function processes(hostId: string): Promise<{ name: string; pid: number; restarts: number }[]> {
  const host = lab.t.hosts.find((h) => h.id === hostId);
  assert.ok(host);
  // PM2 prints its own notices before the JSON when it (re)spawns a daemon.
  const output = await pm2(lab.t, host, lab.env(hostId), ['jlist']);
  const list = JSON.parse(output.slice(output.search(/^\[/m))) as { name: string; pid: number; pm2_env: { restart_time: number } }[];
  return list.map((p) => ({ name: p.name, pid: p.pid, restarts: p.pm2_env.restart_time }));
}

async function restartsOf(hostIds: string[]): Promise<string> {
  const all = await Promise.all(hostIds.map(async (id) => (await processes(id)).map((p) => `${id}/${p.name}/${p.pid}/${p.restarts}`)));
  return all.flat().sort().join(' ');
}

/** What followers lack of, or hold twice of, the ids acknowledged in their room. */
function followerProblems(): string[] {
  const problems: string[] = [];
  for (const [room, list] of followers) {
    const acknowledged = writers.get(room)?.posted ?? [];
    list.forEach((follower, i) => {
      const held = new Set(follower.held);
      const missing = acknowledged.filter((id) => !held.has(id));
      if (missing.length > 0) problems.push(`${room} follower ${i} misses ${missing.length} of ${acknowledged.length} (${missing.slice(0, 5).join(', ')}); last statuses ${JSON.stringify(follower.statuses.slice(-2))}`);
      if (held.size !== follower.held.length) problems.push(`${room} follower ${i} holds ${follower.held.length - held.size} ids twice`);
    });
  }
  return problems;
}

const failures = () => [...writers.values()].flatMap((w) => w.failures);

/** After a scenario: every 201 stored exactly once and held by every follower exactly once. */
async function assertNothingLost(what: string): Promise<void> {
  await waitFor(`${what}: every follower to hold every acknowledged message`, () => followerProblems().length === 0, 30_000, 500).catch(() => undefined);
  assert.deepEqual(followerProblems().slice(0, 10), [], what);
  const ids = [...writers.values()].flatMap((w) => w.posted);
  const stored = await pgCount('SELECT count(DISTINCT id) AS n FROM messages WHERE id = ANY($1::int[])', [ids], `postgresql://postgres@127.0.0.1:5432/${lab.t.database}`);
  assert.equal(stored, ids.length, `${what}: every acknowledged message is stored`);
  assert.ok(peakServerConnections <= BUDGET, `${what}: pg_stat_activity peaked at ${peakServerConnections}, budget ${BUDGET}`);
}

describe('several hosts behind HAProxy', { skip: asRoot ? false : 'needs root for network namespaces' }, () => {
  before(async () => {
    lab = await up({
      name,
      subnet: randomInt(1, 230),
      lbPort: await freePort(),
      lbStatsPort: await freePort(),
      budget: BUDGET,
      // The writers post ten a second as one user; 300 clients share 20 users and, through
      // HAProxy, one address (127.0.0.1): no per-address cap.
      env: { WRITE_RATE_LIMIT: '0', MAX_SOCKETS_PER_ADDRESS: '0' },
    });
    const tokens = createTokenService(lab.jwtSecret);
    auth = { authorization: `Bearer ${await tokens.sign('lab-admin')}` };
    const followerTokens = await Promise.all(Array.from({ length: 20 }, (_, i) => tokens.sign(`follower-${i}`)));
    sampler = setInterval(() => {
      void pgCount('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [lab.t.database], 'postgresql://postgres@127.0.0.1:5432/postgres')
        .then((n) => (peakServerConnections = Math.max(peakServerConnections, n)))
        .catch(() => undefined);
    }, 250);
    ROOMS.forEach((room, r) => followers.set(room, Array.from({ length: 50 }, (_, i) => follow(lab.url, room, followerTokens[(r * 50 + i) % followerTokens.length] ?? ''))));
    await waitFor('300 followers to join', () => allFollowers().every((f) => f.statuses.some((s) => s.joined && !s.error)), 90_000, 250);
    // Ten messages a second in all, through HAProxy.
    const writerToken = await tokens.sign('lab-writer');
    for (const room of ROOMS) writers.set(room, startWriter(lab.url, room, writerToken, 600));
  });
  after(async () => {
    clearInterval(sampler);
    await Promise.all([...writers.values()].map((w) => w.stop()));
    for (const follower of allFollowers()) follower.stop();
    await down({ name });
  });

  it('spreads requests over every instance of every host, and a message posted on one host reaches followers on all three', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 60; i += 1) {
      const body = await info();
      seen.add(`${body.hostname}/${body.pid}`);
    }
    const members = (await info()).members.filter((m) => m.role === 'api');
    assert.equal(members.length, 6);
    assert.deepEqual([...seen].sort(), members.map((m) => `${m.host}/${m.pid}`).sort(), 'every API instance of every host answered through HAProxy');
    // Followers sit on all three hosts: each socket's instance is in its hello.
    const hostsOfSockets = new Set(members.filter((m) => m.sockets > 0).map((m) => m.host));
    assert.deepEqual([...hostsOfSockets].sort(), ['h1', 'h2', 'h3']);
    await sleep(2000);
    await assertNothingLost('spread');
  });

  it('a host lost: HAProxy stops sending to it within 5 s, its clients catch up elsewhere, membership drops it, the survivors take its budget', async () => {
    const before = await restartsOf(['h1', 'h2']);
    const poolsBefore = (await info()).members.filter((m) => m.host !== 'h3').map((m) => m.pool.want);
    const failuresBefore = failures().length;
    const lost = lab.t.hosts[2];
    assert.ok(lost);
    try {
      const lostAt = Date.now();
      // Every process of h3 dies at once and its link goes down: a host that lost power.
      const pids = (await run('ip', ['netns', 'pids', lost.ns])).split('\n').filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      await setHostLink(lab.t, 'h3', false);
      await waitFor('HAProxy to mark h3 down', async () => (await haproxyServers(lab.t)).h3?.startsWith('DOWN'), 10_000, 100);
      const outOfRotationMs = Date.now() - lostAt;
      assert.ok(outOfRotationMs <= 5000, `HAProxy took ${outOfRotationMs} ms`);
      await waitFor('membership to drop h3', async () => (await info()).members.every((m) => m.host !== 'h3'), 30_000, 250);
      const droppedMs = Date.now() - lostAt;
      await waitFor('the survivors\' pools to grow', async () => (await info()).members.reduce((sum, m) => sum + m.pool.want, 0) > poolsBefore.reduce((a, b) => a + b, 0), 20_000, 250);
      await waitFor('every follower to rejoin', () => allFollowers().every((f) => f.socket.connected), 30_000, 250);
      const recoveredMs = Date.now() - lostAt;
      await sleep(2000);
      await assertNothingLost('host lost');
      assert.equal(await restartsOf(['h1', 'h2']), before, 'no process of the other hosts restarted');
      const failed = failures().slice(failuresBefore);
      console.log(`# host lost: out of rotation in ${outOfRotationMs} ms, out of membership in ${droppedMs} ms, every client back in ${recoveredMs} ms; ${failed.length} failed writes: ${failed.slice(0, 3).join('; ')}`);
    } finally {
      // The host comes back whatever happened: its link up, npm start as after a reboot.
      await setHostLink(lab.t, 'h3', true);
      await npmStart(lab.t, lost, lab.env('h3'));
      await waitFor('HAProxy to send to h3 again', async () => (await haproxyServers(lab.t)).h3 === 'UP', 20_000, 250);
    }
  });

  it('a host cut off from Redis alone leaves rotation and comes back when the link returns, without a restart', async () => {
    const before = await restartsOf(['h1', 'h2', 'h3']);
    await setHostRedisRoute(lab.t, 'h1', false);
    try {
      await waitFor('HAProxy to take h1 out', async () => (await haproxyServers(lab.t)).h1?.startsWith('DOWN'), 30_000, 250);
      const states = await haproxyServers(lab.t);
      assert.equal(states.h2, 'UP');
      assert.equal(states.h3, 'UP');
    } finally {
      await setHostRedisRoute(lab.t, 'h1', true);
    }
    await waitFor('HAProxy to send to h1 again', async () => (await haproxyServers(lab.t)).h1 === 'UP', 30_000, 250);
    await waitFor('every follower connected', () => allFollowers().every((f) => f.socket.connected), 30_000, 250);
    await sleep(2000);
    await assertNothingLost('host cut off from Redis');
    assert.equal(await restartsOf(['h1', 'h2', 'h3']), before, 'no process restarted');
  });

  /** Polls HAProxy while `during` runs: whether every host was ever out of rotation at once. */
  async function watchRotation<T>(during: () => Promise<T>): Promise<{ result: T; allOutSeen: boolean }> {
    let allOutSeen = false;
    const timer = setInterval(() => {
      void haproxyServers(lab.t)
        .then((states) => {
          if (Object.values(states).every((state) => state.startsWith('DOWN'))) allOutSeen = true;
        })
        .catch(() => undefined);
    }, 200);
    try {
      return { result: await during(), allOutSeen };
    } finally {
      clearInterval(timer);
    }
  }

  it('the Redis primary killed: Sentinel fails over, fan-out is back within 10 s, no process restarts, never every host out of rotation', async () => {
    const hosts = lab.t.hosts.map((h) => h.id);
    const before = await restartsOf(hosts);
    const { result, allOutSeen } = await watchRotation(async () => {
      const primary = await currentRedisPrimary(lab.t);
      const killedAt = Date.now();
      killRedis(lab.t, primary);
      await waitFor('Sentinel to promote the replica', async () => (await currentRedisPrimary(lab.t)) !== primary, 20_000, 200);
      const promotedMs = Date.now() - killedAt;
      // Fan-out is back when a message posted after the promotion reaches every follower of its room live.
      const room = ROOMS[0] ?? '';
      const writer = writers.get(room);
      assert.ok(writer);
      const promotedAt = writer.posted.length;
      await waitFor('a message after the promotion', () => writer.posted.length > promotedAt, 10_000, 50);
      const probe = writer.posted[promotedAt] ?? 0;
      await waitFor('it to reach every follower of its room', () => (followers.get(room) ?? []).every((f) => f.held.includes(probe)), 10_000, 50);
      return { promotedMs, fanOutMs: Date.now() - killedAt };
    });
    console.log(`# Redis failover: replica promoted ${result.promotedMs} ms after the kill, fan-out back at ${result.fanOutMs} ms`);
    assert.ok(result.fanOutMs - result.promotedMs <= 10_000, `fan-out back ${result.fanOutMs - result.promotedMs} ms after the promotion`);
    assert.equal(allOutSeen, false, 'every host was out of rotation at once');
    await assertNothingLost('Redis failover');
    assert.equal(await restartsOf(hosts), before, 'no process restarted');
  });

  it('a release rolled host by host through HAProxy: 0 failed requests, old and new builds side by side', async () => {
    const oldVersion = (JSON.parse(readFileSync(join(lab.t.dir, 'h1/app/package.json'), 'utf8')) as { version: string }).version;
    const newVersion = `${oldVersion}-next`;
    const release = prepareRelease(lab.t, newVersion);
    const failuresBefore = failures().length;
    // A reader through HAProxy, each request on a new connection, noting which build answered.
    const versions: string[][] = [];
    const readerFailures: string[] = [];
    const state = { running: true };
    const reader = (async () => {
      while (state.running) {
        try {
          const res = await fetch(`${lab.url}/api/status`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
          if (res.ok) versions.push([(await res.json() as { version: string }).version, String(Date.now())]);
          else readerFailures.push(`HTTP ${res.status}`);
        } catch (error) {
          readerFailures.push(String(error));
        }
        await sleep(20);
      }
    })();
    let sideBySide = false;
    try {
      for (const host of lab.t.hosts) {
        installRelease(lab.t, host, release);
        await npmStart(lab.t, host, lab.env(host.id));
        const recent = new Set(versions.slice(-30).map(([v]) => v));
        if (host !== lab.t.hosts.at(-1) && recent.has(oldVersion) && recent.has(newVersion)) sideBySide = true;
      }
    } finally {
      state.running = false;
      await reader;
    }
    assert.deepEqual(readerFailures, [], 'no read failed during the roll');
    assert.deepEqual(failures().slice(failuresBefore), [], 'no write failed during the roll');
    assert.ok(sideBySide, 'old and new builds answered side by side during the roll');
    const members = (await info()).members;
    assert.ok(members.every((m) => m.version === newVersion), `every process runs the new build: ${members.map((m) => `${m.host}/${m.role}:${m.version}`).join(', ')}`);
    console.log(`# rolled release: ${versions.length} reads, 0 failed`);
    await assertNothingLost('rolled release');
  });

  it('the PM2 daemon of one host killed: the other hosts serve meanwhile, pm2 resurrect brings that host back', async () => {
    const host = lab.t.hosts[1];
    assert.ok(host);
    const others = lab.t.hosts.filter((h) => h !== host).map((h) => h.id);
    const before = await restartsOf(others);
    const { result, allOutSeen } = await watchRotation(async () => {
      const daemon = Number(readFileSync(join(lab.t.dir, host.id, 'pm2', 'pm2.pid'), 'utf8'));
      const killedAt = Date.now();
      process.kill(daemon, 'SIGKILL');
      await waitFor(`HAProxy to take ${host.id} out`, async () => (await haproxyServers(lab.t))[host.id]?.startsWith('DOWN'), 30_000, 200).catch(() => undefined);
      // The documented path (docs/lifecycle.md, "The PM2 daemon's death"): npm start saved the process list.
      await pm2(lab.t, host, lab.env(host.id), ['resurrect']);
      await waitFor(`HAProxy to send to ${host.id} again`, async () => (await haproxyServers(lab.t))[host.id] === 'UP', 60_000, 250);
      return { backMs: Date.now() - killedAt };
    });
    const names = (await processes(host.id)).map((p) => p.name).sort();
    assert.deepEqual(names, ['api', 'api', 'worker'], 'the saved process list came back');
    console.log(`# PM2 daemon killed: ${host.id} back in rotation ${result.backMs} ms later`);
    assert.equal(allOutSeen, false);
    await assertNothingLost('PM2 daemon killed');
    assert.equal(await restartsOf(others), before, 'no process of the other hosts restarted');
  });
});
