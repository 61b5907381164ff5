import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { RealtimeServer } from '../realtime/socket-server.js';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * A scrape reaches one instance (round-robin), so /metrics answers for every instance on this
 * host: it asks the others over the Socket.IO Redis adapter (serverSideEmit with
 * acknowledgements, the adapter's own request/response between servers) and merges their
 * registries with its own. Series stay apart by their `instance` label. Instances on other
 * hosts sharing the Redis answer with nothing: each host is its own scrape target.
 */
export function clusterMetrics(io: RealtimeServer, registry: Registry, options: { hostname: string; crossInstance: boolean }) {
  const { hostname } = options;
  io.on('metrics:collect', (host, ack) => {
    if (host !== hostname) {
      ack([]);
      return;
    }
    registry.getMetricsAsJSON().then(ack, () => {
      ack([]);
    });
  });

  return {
    contentType: registry.contentType,
    async collect(): Promise<{ text: string; instancesAnswered: number; complete: boolean }> {
      const local = await registry.getMetricsAsJSON();
      // The in-memory adapter (ENABLE_CLUSTER=false) has no other servers to ask.
      const { responses, complete } = !options.crossInstance
        ? { responses: [], complete: true }
        : await new Promise<{ responses: MetricsJson[]; complete: boolean }>((resolve) => {
            // Waits at most the adapter's requestsTimeout; on a timeout the adapter still
            // hands over the replies that did arrive.
            io.serverSideEmit('metrics:collect', hostname, (error: Error | null, replies: MetricsJson[]) => {
              resolve({ responses: replies, complete: error === null });
            });
          });
      const answered = responses.filter((r) => r.length > 0);
      const merged = AggregatorRegistry.aggregate([local, ...answered]);
      return { text: await merged.metrics(), instancesAnswered: 1 + answered.length, complete };
    },
  };
}

export type ClusterMetrics = ReturnType<typeof clusterMetrics>;
