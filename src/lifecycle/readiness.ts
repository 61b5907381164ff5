import { withTimeout } from './timeout.js';

export type DependencyCheck = () => Promise<void>;

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

/** Readiness = every dependency answers within the timeout. Liveness (/health) never calls these. */
export function createReadiness(checks: Record<string, DependencyCheck>, timeoutMs: number): Readiness {
  let shuttingDown = false;

  async function run(name: string, check: DependencyCheck): Promise<[string, CheckResult]> {
    const started = performance.now();
    try {
      await withTimeout(check(), timeoutMs, `${name} check`);
      return [name, { status: 'ok', latencyMs: Math.round(performance.now() - started) }];
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return [name, { status: 'error', latencyMs: Math.round(performance.now() - started), error: message }];
    }
  }

  return {
    async check() {
      const results = Object.fromEntries(await Promise.all(Object.entries(checks).map(([name, check]) => run(name, check))));
      const healthy = Object.values(results).every((r) => r.status === 'ok');
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
