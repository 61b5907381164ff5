import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from './requests.js';

export interface RuntimeGauges {
  poolStats: () => { max: number; idle: number; inUse: number; waiting: number };
  socketClients: () => number;
  inFlight: () => number;
  /** Lines the log budget dropped (log-budget.ts). */
  logLinesDropped: () => number;
}

/**
 * This instance's Prometheus registry. Every series carries `instance` (the instance id) and
 * `host`, so series from different instances stay apart when /metrics merges them.
 */
export function createMetricsRegistry(labels: { instance: number; host: string }, gauges: RuntimeGauges): RequestObserver & { registry: Registry } {
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

  return {
    registry,
    requestFinished: ({ req, res, route, seconds }) => {
      requestDuration.observe({ method: req.method, route, status_code: res.statusCode }, seconds);
      if (res.statusCode >= 500) errors.inc();
    },
  };
}
