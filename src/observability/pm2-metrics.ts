import { monitorEventLoopDelay } from 'node:perf_hooks';
import tx2 from 'tx2';
import type { RequestObserver } from './requests.js';
import type { RuntimeGauges } from './metrics.js';

const LOOP_RESOLUTION_MS = 10;

/**
 * Live per-instance metrics for `pm2 monit` and `pm2 show`, sent over PM2's IPC channel by
 * tx2 (the library PM2 itself depends on; they appear under `axm_monitor` in `pm2 jlist`).
 * Only started under PM2.
 */
export function startPm2Metrics(gauges: RuntimeGauges): RequestObserver {
  // No unit: tx2's meter appends it to the value and sends it as the unit too, so pm2 monit
  // would show "req/sec 268.07req/s req/s"; the name says it.
  const requests = tx2.meter({ name: 'req/sec', samples: 1, timeframe: 60 });
  const latency = tx2.histogram({ name: 'p95 latency', unit: 'ms', measurement: 'p95' });
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();

  tx2.metric({ name: 'in-flight requests', value: gauges.inFlight });
  tx2.metric({ name: 'Socket.IO clients', value: gauges.socketClients });
  tx2.metric({ name: 'DB pool in use', value: () => gauges.poolStats().inUse });
  tx2.metric({ name: 'DB pool waiting', value: () => gauges.poolStats().waiting });
  tx2.metric({
    name: 'event loop lag p99',
    unit: 'ms',
    value: () => {
      // PM2 reads every second; each reading covers the second since the last one. A sample
      // is the time between two timer ticks, so the tick interval itself is not lag.
      const lagMs = Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS);
      loop.reset();
      return Math.round(lagMs * 100) / 100;
    },
  });
  tx2.metric({ name: 'heap used', unit: 'MiB', value: () => Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10 });

  return {
    requestFinished: ({ seconds }) => {
      requests.mark();
      latency.update(seconds * 1000);
    },
  };
}
