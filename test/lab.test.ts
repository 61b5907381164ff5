import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { down, up, type Lab } from '../scripts/lab/lab.js';
import { npmStart, pm2 } from '../scripts/lab/hosts.js';
import { setHostLink, setHostRedisRoute } from '../scripts/lab/network.js';
import { haproxyServers } from '../scripts/lab/services.js';
import { run } from '../scripts/lab/shell.js';
import type { z } from 'zod';
import { createTokenService } from '../src/auth/jwt.js';
import type { clusterInfoBody } from '../src/cluster/schema.js';
import { follow, startWriter, type Follower, type Writer } from './helpers/followers.js';
import { freePort, sleep, waitFor } from './helpers/services.js';

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
      // The writer posts ten a second as one user; 300 clients share 20 users.
      env: { WRITE_RATE_LIMIT: '0' },
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

    // The host comes back: its link up, npm start as after a reboot.
    await setHostLink(lab.t, 'h3', true);
    await npmStart(lab.t, lost, lab.env('h3'));
    await waitFor('HAProxy to send to h3 again', async () => (await haproxyServers(lab.t)).h3 === 'UP', 20_000, 250);
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
});
