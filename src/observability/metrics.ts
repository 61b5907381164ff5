import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from './requests.js';

export interface RuntimeGauges {
  poolStats: () => { max: number; idle: number; inUse: number; waiting: number };
  socketClients: () => number;
  inFlight: () => number;
  /** DB_CONNECTION_BUDGET: what every pool of the cluster may hold together. */
  connectionBudget?: number;
  /** PM2's max_memory_restart, when known. */
  maxMemoryRestartBytes?: number | undefined;
  /** Whether each dependency answers now (readiness's checks), asked at each scrape. */
  dependencies?: () => Promise<Record<string, boolean>>;
  /** Lines the log budget dropped (log-budget.ts). */
  logLinesDropped: () => number;
}

/**
 * This instance's Prometheus registry. Every series carries `instance` (the instance id) and
 * `host`, so series from different instances stay apart when /metrics merges them.
 */
export function createMetricsRegistry(labels: { instance: number; host: string }, gauges: RuntimeGauges): RequestObserver & { registry: Registry; fanoutDelay: (seconds: number) => void } {
  const registry = new Registry();
  registry.setDefaultLabels({ instance: String(labels.instance), host: labels.host });
  collectDefaultMetrics({ register: registry });

  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'http_requests_in_flight',
    help: 'HTTP requests being served',
    registers: [registry],
    collect() {
      this.set(gauges.inFlight());
    },
  });
  new Counter({
    name: 'log_lines_dropped_total',
    help: 'Log lines dropped for being over LOG_LINES_PER_SECOND',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(gauges.logLinesDropped());
    },
  });
  const errors = new Counter({ name: 'http_server_errors_total', help: 'Responses with status 5xx', registers: [registry] });
  new Gauge({
    name: 'db_pool_connections',
    help: 'PostgreSQL pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const stats = gauges.poolStats();
      this.set({ state: 'in_use' }, stats.inUse);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
      this.set({ state: 'max' }, stats.max);
    },
  });
  new Gauge({
    name: 'socketio_connected_clients',
    help: 'Socket.IO clients connected to this instance',
    registers: [registry],
    collect() {
      this.set(gauges.socketClients());
    },
  });

  // What deploy/observability/ alerts and graphs on besides the above.
  if (gauges.connectionBudget !== undefined) {
    new Gauge({ name: 'db_connection_budget', help: 'DB_CONNECTION_BUDGET: connections every process of the cluster may hold together', registers: [registry] }).set(gauges.connectionBudget);
  }
  if (gauges.maxMemoryRestartBytes !== undefined) {
    new Gauge({ name: 'pm2_max_memory_restart_bytes', help: 'PM2 restarts this instance when its RSS passes this', registers: [registry] }).set(gauges.maxMemoryRestartBytes);
  }
  const { dependencies } = gauges;
  if (dependencies) {
    new Gauge({
      name: 'dependency_up',
      help: 'Whether a dependency (database, redis) answers this instance, checked at each scrape',
      labelNames: ['dependency'] as const,
      registers: [registry],
      async collect() {
        for (const [dependency, up] of Object.entries(await dependencies())) this.set({ dependency }, up ? 1 : 0);
      },
    });
  }
  const fanout = new Histogram({
    name: 'socketio_fanout_delay_seconds',
    help: 'From an emit on another instance to its delivery to this instance\'s sockets (through Redis)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  return {
    registry,
    fanoutDelay: (seconds) => { fanout.observe(Math.max(0, seconds)); },
    requestFinished: ({ req, res, route, seconds }) => {
      requestDuration.observe({ method: req.method, route, status_code: res.statusCode }, seconds);
      if (res.statusCode >= 500) errors.inc();
    },
  };
}
