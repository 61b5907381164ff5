import { Router } from 'express';
import type { ClusterMetrics } from '../../observability/cluster-metrics.js';

/** Prometheus scrape endpoint; describes every instance on this host (see observability/cluster-metrics.ts). */
export function metricsRoutes(metrics: ClusterMetrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const { text, instancesAnswered, complete } = await metrics.collect();
    res.setHeader('X-Metrics-Instances', String(instancesAnswered));
    if (!complete) res.setHeader('X-Metrics-Partial', 'true');
    res.type(metrics.contentType).send(text);
  });
  return router;
}
