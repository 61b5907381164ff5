import { errorReason } from '../observability/error-reason.js';
import type { Logger } from '../observability/logger.js';
import { TimeoutError, withTimeout } from './timeout.js';

export type DependencyCheck = () => Promise<void>;

// Redis and PostgreSQL connections are usually still opening on the first checks of a start.
const STARTUP_GRACE_MS = 3000;

export interface CheckResult {
  status: 'ok' | 'error';
  latencyMs: number;
  error?: string;
}

export interface ReadinessReport {
  ready: boolean;
  status: 'ok' | 'unavailable' | 'shutting_down';
  checks: Record<string, CheckResult>;
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
  /** First step of shutdown: the load balancer (or k8s) stops sending traffic here. */
  markShuttingDown(): void;
  readonly shuttingDown: boolean;
}

/**
 * Readiness = every dependency answers within the timeout. Liveness (/health) never calls these.
 * A failing check is reported by name; its error text (which can hold a host, port or driver
 * message) only when `exposeErrors` (not in production). The error's message (no stack) is
 * logged at warn when a dependency goes down, once per outage, and its recovery at info; not in
 * the first seconds of a start, while the connections are still being opened.
 */
export function createReadiness(checks: Record<string, DependencyCheck>, timeoutMs: number, options: { logger: Logger; exposeErrors: boolean }): Readiness {
  let shuttingDown = false;
  let wasReady = false;
  const createdAt = Date.now();
  const settling = () => !wasReady && Date.now() - createdAt < STARTUP_GRACE_MS;
  const down = new Set<string>();

  async function run(name: string, check: DependencyCheck): Promise<[string, CheckResult]> {
    const started = performance.now();
    try {
      await withTimeout(check(), timeoutMs, `${name} check`);
      if (down.delete(name)) options.logger.info({ event: 'dependency-up', dependency: name }, `${name} answers again`);
      return [name, { status: 'ok', latencyMs: Math.round(performance.now() - started) }];
    } catch (error) {
      if (!settling() && !down.has(name)) {
        // Messages alone: a stack says where the check awaited, never why the dependency is down.
        const reason = errorReason(error);
        options.logger.warn({ event: 'dependency-down', dependency: name, reason }, `${name} does not answer; not ready: ${reason}`);
        down.add(name);
      }
      const timedOut = error instanceof TimeoutError;
      const message = options.exposeErrors ? (error instanceof Error ? error.message : String(error)) : timedOut ? `no answer within ${timeoutMs}ms` : 'unavailable';
      return [name, { status: 'error', latencyMs: Math.round(performance.now() - started), error: message }];
    }
  }

  return {
    async check() {
      const results = Object.fromEntries(await Promise.all(Object.entries(checks).map(([name, check]) => run(name, check))));
      const healthy = Object.values(results).every((r) => r.status === 'ok');
      if (healthy) wasReady = true;
      const status = shuttingDown ? 'shutting_down' : healthy ? 'ok' : 'unavailable';
      return { ready: status === 'ok', status, checks: results };
    },
    markShuttingDown() {
      shuttingDown = true;
    },
    get shuttingDown() {
      return shuttingDown;
    },
  };
}
