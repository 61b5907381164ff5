import { errorReason } from '../observability/error-reason.js';
import type { Logger } from '../observability/logger.js';
import { TimeoutError, withTimeout } from './timeout.js';

export type DependencyCheck = () => Promise<void>;

// Redis and PostgreSQL connections are usually still opening on the first checks of a start.
const STARTUP_GRACE_MS = 3000;
/**
 * How long this instance must have been without a dependency, while a peer has reached it
 * without a break, before it counts as cut off alone: instances that lost it together (a
 * failover, a restart) get it back within a second or two of each other (ioredis retries
 * every 2 s at most), and none of them should leave rotation for that.
 */
export const CUT_OFF_GRACE_MS = 5000;

export interface CheckResult {
  status: 'ok' | 'error';
  latencyMs: number;
  error?: string;
  /** For a failing check once the instance has served: `alone` if another instance reaches the dependency, `shared` otherwise. */
  outage?: 'shared' | 'alone';
}

export interface ReadinessReport {
  ready: boolean;
  /** `degraded`: ready, though a dependency every instance lost does not answer. */
  status: 'ok' | 'degraded' | 'unavailable' | 'shutting_down';
  checks: Record<string, CheckResult>;
}

/** What the other instances see of a dependency (health/peer-view.ts). */
export interface PeerEvidence {
  /** Records that this instance reaches every dependency now. */
  report(): Promise<void>;
  /** Milliseconds for which another instance has reached the dependency without a break; undefined if none reaches it now. */
  peerReachingFor(dependency: string): Promise<number | undefined>;
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
  /**
   * Checks every `intervalMs` in the background, so outages are timed and this instance's
   * health reaches its peers even when nobody polls /ready; `onCutOff` runs when the instance
   * finds itself alone without a dependency.
   */
  watch(intervalMs: number, onCutOff: () => void): void;
  /** False while this instance alone is cut off from a dependency: new sockets belong elsewhere. */
  readonly accepting: boolean;
  /** First step of shutdown: the load balancer (or k8s) stops sending traffic here. */
  markShuttingDown(): void;
  readonly shuttingDown: boolean;
}

/**
 * Start-up: ready once every dependency answers within the timeout. After that, a dependency
 * that stops answering makes the instance unready only while it alone has lost it, i.e. it
 * has failed for CUT_OFF_GRACE_MS while another instance has reached it without a break for
 * as long (learnt through the other dependency, `peers`). An outage every instance shares keeps them all in
 * rotation (`degraded`): taking every instance out would turn a partial outage (reads and
 * writes still work without Redis) into a total one. Without `peers`, every failing check
 * makes it unready. Liveness (/health) never calls these.
 *
 * A failing check is reported by name; its error text (which can hold a host, port or driver
 * message) only when `exposeErrors` (not in production). The error's message (no stack) is
 * logged at warn when a dependency goes down, once per outage, and its recovery at info; not in
 * the first seconds of a start, while the connections are still being opened.
 */
export function createReadiness(
  checks: Record<string, DependencyCheck>,
  timeoutMs: number,
  options: { logger: Logger; exposeErrors: boolean; peers?: PeerEvidence },
): Readiness {
  let shuttingDown = false;
  let wasReady = false;
  let cutOff = false;
  let watcher: NodeJS.Timeout | undefined;
  let handOff: (() => void) | undefined;
  const createdAt = Date.now();
  const settling = () => !wasReady && Date.now() - createdAt < STARTUP_GRACE_MS;
  const down = new Set<string>();
  const failingSince = new Map<string, number>();

  async function run(name: string, check: DependencyCheck): Promise<[string, CheckResult]> {
    const started = performance.now();
    try {
      await withTimeout(check(), timeoutMs, `${name} check`);
      failingSince.delete(name);
      if (down.delete(name)) options.logger.info({ event: 'dependency-up', dependency: name }, `${name} answers again`);
      return [name, { status: 'ok', latencyMs: Math.round(performance.now() - started) }];
    } catch (error) {
      if (!failingSince.has(name)) failingSince.set(name, started);
      if (!settling() && !down.has(name)) {
        // Messages alone: a stack says where the check awaited, never why the dependency is down.
        const reason = errorReason(error);
        options.logger.warn({ event: 'dependency-down', dependency: name, reason }, `${name} does not answer: ${reason}`);
        down.add(name);
      }
      const timedOut = error instanceof TimeoutError;
      const message = options.exposeErrors ? (error instanceof Error ? error.message : String(error)) : timedOut ? `no answer within ${timeoutMs}ms` : 'unavailable';
      return [name, { status: 'error', latencyMs: Math.round(performance.now() - started), error: message }];
    }
  }

  /** True when this instance has failed `name` for the grace, while another instance has reached it without a break for as long. */
  async function alone(name: string, peers: PeerEvidence): Promise<boolean> {
    const since = failingSince.get(name);
    if (since === undefined) return false;
    if (performance.now() - since < CUT_OFF_GRACE_MS) return false;
    const streak = await withTimeout(peers.peerReachingFor(name), timeoutMs, `peers' view of ${name}`).catch(() => undefined);
    return streak !== undefined && streak >= CUT_OFF_GRACE_MS;
  }

  /** Logs and acts on entering or leaving the cut-off state, whichever check (/ready or the watch) sees it first. */
  function noteCutOff(results: Record<string, CheckResult>): void {
    const lost = Object.keys(results).filter((name) => results[name]?.outage === 'alone');
    if (lost.length > 0 && !cutOff) {
      options.logger.warn({ event: 'cut-off', dependencies: lost }, `This instance alone cannot reach ${lost.join(' and ')}; not ready, refusing new sockets and handing its sockets to other instances`);
      handOff?.();
    } else if (lost.length === 0 && cutOff) {
      options.logger.info({ event: 'cut-off-ended' }, 'This instance is no longer alone without a dependency; taking sockets again');
    }
    cutOff = lost.length > 0;
  }

  async function check(): Promise<ReadinessReport> {
    const results: Record<string, CheckResult> = Object.fromEntries(await Promise.all(Object.entries(checks).map(([name, c]) => run(name, c))));
    const failing = Object.keys(results).filter((name) => results[name]?.status !== 'ok');
    const healthy = failing.length === 0;
    if (healthy) wasReady = true;
    let isolated = false;
    if (!healthy && wasReady && options.peers) {
      const { peers } = options;
      for (const name of failing) {
        const result = results[name];
        if (!result) continue;
        result.outage = (await alone(name, peers)) ? 'alone' : 'shared';
        isolated ||= result.outage === 'alone';
      }
    }
    noteCutOff(results);
    const serving = healthy || (wasReady && options.peers !== undefined && !isolated);
    const status = shuttingDown ? 'shutting_down' : !serving ? 'unavailable' : healthy ? 'ok' : 'degraded';
    return { ready: status === 'ok' || status === 'degraded', status, checks: results };
  }

  return {
    check,
    watch(intervalMs, onCutOff) {
      handOff = onCutOff;
      const tick = async () => {
        const report = await check();
        if (report.status === 'ok' && options.peers) await options.peers.report().catch(() => undefined);
      };
      const schedule = () => {
        watcher = setTimeout(() => {
          void tick().catch(() => undefined).finally(() => {
            if (!shuttingDown) schedule();
          });
        }, intervalMs);
        watcher.unref();
      };
      schedule();
    },
    get accepting() {
      return !cutOff;
    },
    markShuttingDown() {
      shuttingDown = true;
      clearTimeout(watcher);
    },
    get shuttingDown() {
      return shuttingDown;
    },
  };
}
