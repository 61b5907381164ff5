import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { withTimeout } from '../lifecycle/timeout.js';
import type { LastShare } from './last-share.js';
import type { Member, MemberInfo, MembershipStore } from './membership-store.js';
import { apiShare, overrideExceedsBudget, workerReserve, type BudgetSettings } from './pool-share.js';

/** How often a member beats (its entry expires after MEMBER_TTL_MS without one). */
export const HEARTBEAT_MS = 1000;

export interface PoolControl {
  stats(): { max: number; open: number; inUse: number; waiting: number };
  resize(max: number): void;
}

export interface MembershipOptions {
  store: MembershipStore;
  self: { host: string; role: 'api' | 'worker'; instanceId: number; version: string };
  settings: BudgetSettings;
  /** The process's database pool, which membership sizes. */
  pool: PoolControl;
  /** Socket.IO clients now, and requests served since start (both 0 for the worker). */
  sockets?: () => number;
  requestsServed?: () => number;
  logger: Logger;
  intervalMs?: number;
  /** Where an API instance keeps its share, for a start while Redis is down (last-share.ts). */
  lastShare?: LastShare;
}

export interface Membership {
  readonly id: string;
  /** Every live member sharing the database (as of the last heartbeat), by host, role and instance. */
  members(): Member[];
  /** Live API instances sharing the database. */
  apiInstances(): number;
  /** This process's pool size now. */
  poolMax(): number;
  /** Stops beating and removes this member: call once its database pool is closed. */
  leave(): Promise<void>;
}

function byPlace(a: Member, b: Member): number {
  return a.host.localeCompare(b.host) || a.role.localeCompare(b.role) || a.instanceId - b.instanceId || a.pid - b.pid || a.id.localeCompare(b.id);
}

/**
 * Keeps this process in the cluster's live membership (a heartbeat in Redis) and sizes its
 * database pool from it. A new member starts with one connection and grows only into room
 * the others have released (the store grants growth atomically against the budget); when
 * members leave, the rest grow back. Shrinking is immediate, and the claim in Redis follows
 * the connections actually open, so a member keeps its share until they are closed. While
 * Redis is unreachable the pool keeps its size and never grows. Resolves after the first
 * heartbeats, or at once if Redis does not answer: then an API instance takes the share it had
 * at its last known membership (`lastShare`, else 1) and a worker its WORKER_DB_POOL_MAX, and
 * the heartbeats correct it once Redis answers.
 */
export async function joinCluster(options: MembershipOptions): Promise<Membership> {
  const { store, self, settings, pool, logger } = options;
  const intervalMs = options.intervalMs ?? HEARTBEAT_MS;
  const forced = self.role === 'api' && settings.poolMax !== undefined;
  // The random part tells apart members that share a pid (instances started in one test process).
  const id = `${self.host}:${self.role}:${self.instanceId}:${process.pid}:${randomBytes(2).toString('hex')}`;
  const startedAt = new Date(Date.now() - process.uptime() * 1000).toISOString();
  const log = logger.child({ component: 'membership' });

  let members: Member[] = [];
  let joined = false;
  let reachable = true;
  let warnedFor: number | undefined;
  let served = { count: options.requestsServed?.() ?? 0, at: performance.now() };
  let size = pool.stats().max;
  /** The claim Redis holds for this member. */
  let claimed = 0;

  const want = () => (self.role === 'worker' ? settings.workerPool : apiShare(settings, members.length > 0 ? members : [{ role: 'api', pool: { want: 0 } }]));

  function resize(next: number, reason: string): void {
    if (next === size) return;
    size = next;
    pool.resize(next);
    if (joined && reachable) options.lastShare?.write(next);
    const apis = members.filter((m) => m.role === 'api').length;
    const reserve = workerReserve(settings, members);
    log.info(
      { event: 'db-pool', poolMax: next, budget: settings.budget, apiInstances: apis, workerReserve: reserve, reason },
      `Database pool: up to ${next} connections in this ${self.role} (budget ${settings.budget} shared by ${apis} API instance(s) + ${reserve} for workers; ${reason})`,
    );
  }

  function info(target: number, stats: ReturnType<PoolControl['stats']>): MemberInfo {
    const now = performance.now();
    const count = options.requestsServed?.() ?? 0;
    const seconds = (now - served.at) / 1000;
    const requestsPerSecond = seconds > 0 ? Math.round(((count - served.count) / seconds) * 10) / 10 : 0;
    served = { count, at: now };
    return {
      id,
      ...self,
      pid: process.pid,
      startedAt,
      uptime: Math.round(process.uptime() * 10) / 10,
      memory: { rss: process.memoryUsage.rss() },
      requestsPerSecond,
      sockets: options.sockets?.() ?? 0,
      pool: { want: target, max: stats.max, inUse: stats.inUse, open: stats.open, waiting: stats.waiting },
    };
  }

  /** Resolves true when Redis answered. */
  async function beat(): Promise<boolean> {
    // The first heartbeat asks for one connection; the next ones, once the others are seen, for the share.
    // A member that started on a fallback share (Redis was down) keeps it until the others are seen.
    const target = forced || joined ? want() : Math.min(want(), Math.max(1, size));
    if (target < size) resize(target, 'shrinking to a new share');
    const stats = pool.stats();
    try {
      const result = await withTimeout(store.beat(info(target, stats), { claim: Math.max(target, stats.open), budget: settings.budget, forced }), intervalMs * 2, 'membership heartbeat');
      members = result.members.sort(byPlace);
      claimed = result.claim;
      joined = true;
      if (!reachable) log.info({ event: 'membership-restored' }, 'Cluster membership reachable again');
      reachable = true;
      // The share again, now from the members just seen: a member that joined shrinks the others at once.
      const share = forced ? target : Math.min(want(), result.claim);
      resize(share, share < want() ? 'growing as room is released' : 'share of the live members');
    } catch (error) {
      if (reachable) log.warn({ event: 'membership-unreachable', err: error, poolMax: size }, `Cluster membership unreachable; keeping the database pool at ${size} and not growing it`);
      reachable = false;
    }
    const apis = members.filter((m) => m.role === 'api').length;
    if (forced && overrideExceedsBudget(settings, members) && warnedFor !== apis) {
      warnedFor = apis;
      log.warn(
        { event: 'db-budget-exceeded', poolMax: settings.poolMax, apiInstances: apis, budget: settings.budget },
        'DB_POOL_MAX or the instance count makes the pools exceed DB_CONNECTION_BUDGET; see docs/database.md',
      );
    }
    return reachable;
  }

  if (forced) resize(settings.poolMax ?? size, 'DB_POOL_MAX');
  // Once the others are seen, ask for the share at once rather than a heartbeat later.
  if (await beat()) await beat();
  else if (!forced) {
    const last = self.role === 'worker' ? settings.workerPool : options.lastShare?.read();
    resize(last ?? 1, last === undefined ? 'cluster membership unreachable at start: one connection until it answers' : 'cluster membership unreachable at start: the share at the last known membership');
  }

  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    // Sooner while the claim is to be released, or the member is below its share (the room it
    // waits for is usually released within a beat).
    const delay = reachable && (size < claimed || size < want()) ? intervalMs / 4 : intervalMs;
    timer = setTimeout(() => {
      current = beat().then(() => undefined).finally(() => {
        if (!stopped) schedule();
      });
    }, delay);
    timer.unref();
  };
  schedule();

  return {
    id,
    members: () => members,
    apiInstances: () => Math.max(1, members.filter((m) => m.role === 'api').length),
    poolMax: () => size,
    async leave() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await current;
      await withTimeout(store.leave(id), intervalMs * 2, 'leaving the cluster membership');
    },
  };
}
