import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { RealtimeServer } from '../realtime/socket-server.js';

// Between API instances, over the Redis adapter: "send me your registry if you are on my host".
const COLLECT = 'metrics:collect';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * A scrape reaches one instance (round-robin), so /metrics answers for every instance on this
 * host: it asks the others over the Socket.IO Redis adapter (serverSideEmit with
 * acknowledgements, the adapter's own request/response between servers) and merges their
 * registries with its own. Series stay apart by their `instance` label. Instances on other
 * hosts sharing the Redis answer with nothing: each host is its own scrape target.
 */
export interface Collected {
  text: string;
  instancesAnswered: number;
  complete: boolean;
  unreachable: string[];
}

/**
 * `cacheMs`: a collection is reused for that long, and scrapes that arrive while one is under
 * way wait for it, so any number of scrapes in the window cost one gathering (each gathering
 * asks every instance of the host to serialise its registry: ~100x the CPU of a /health).
 */
export function clusterMetrics(io: RealtimeServer, registry: Registry, options: { hostname: string; crossInstance: boolean; timeoutMs: number; cacheMs: number }) {
  const { hostname } = options;
  // The other instances that answered the last complete collection: when one does not answer
  // (Redis down, instance hung), the scrape names it instead of silently leaving it out.
  let peers = new Set<string>();
  io.on(COLLECT, (host: unknown, ack: (metrics: MetricsJson) => void) => {
    if (host !== hostname) {
      ack([]);
      return;
    }
    registry.getMetricsAsJSON().then(ack, () => {
      ack([]);
    });
  });

  const gather = async (): Promise<Collected> => {
    const local = await registry.getMetricsAsJSON();
    // The in-memory adapter (ENABLE_CLUSTER=false) has no other servers to ask.
    const { responses, complete } = !options.crossInstance
      ? { responses: [], complete: true }
      : await new Promise<{ responses: MetricsJson[]; complete: boolean }>((resolve) => {
          // The adapter waits at most its requestsTimeout and then hands over the replies
          // that did arrive; but while Redis is down it never calls back at all (its
          // PUBSUB NUMSUB fails and the error is swallowed), so this has its own deadline.
          const timer = setTimeout(() => { resolve({ responses: [], complete: false }); }, options.timeoutMs);
          io.serverSideEmit(COLLECT, hostname, (error: Error | null, replies: MetricsJson[]) => {
            clearTimeout(timer);
            resolve({ responses: replies, complete: error === null });
          });
        });
    const answered = responses.filter((r) => r.length > 0);
    const answeredIds = new Set(answered.map(instanceOf).filter((id): id is string => id !== undefined));
    const unreachable = complete ? [] : [...peers].filter((id) => !answeredIds.has(id)).sort();
    if (complete) peers = answeredIds;
    const merged = AggregatorRegistry.aggregate([local, ...answered]);
    return { text: await merged.metrics(), instancesAnswered: 1 + answered.length, complete, unreachable };
  };

  let latest: { at: number; collected: Promise<Collected> } | undefined;
  return {
    contentType: registry.contentType,
    collect(): Promise<Collected> {
      const now = Date.now();
      if (latest && (latest.at === Number.POSITIVE_INFINITY || now - latest.at < options.cacheMs)) return latest.collected;
      const collected = gather();
      // Reused while under way, and for cacheMs once done (a slow one, Redis down, is not redone at once).
      const entry = { at: Number.POSITIVE_INFINITY, collected };
      latest = entry;
      collected.then(
        () => { entry.at = Date.now(); },
        // A failed gathering is not reused.
        () => { if (latest === entry) latest = undefined; },
      );
      return collected;
    },
  };
}

/** The `instance` label every series of an instance carries (observability/metrics.ts). */
function instanceOf(metrics: MetricsJson): string | undefined {
  for (const metric of metrics) {
    const instance = metric.values[0]?.labels.instance;
    if (instance !== undefined) return String(instance);
  }
  return undefined;
}

export type ClusterMetrics = ReturnType<typeof clusterMetrics>;
