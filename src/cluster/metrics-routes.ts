import { Router } from 'express';
import type { ClusterMetrics } from './cluster-metrics.js';

/** Prometheus scrape endpoint; describes every instance on this host (see cluster-metrics.ts). */
export function metricsRoutes(metrics: ClusterMetrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const { text, instancesAnswered, complete, unreachable } = await metrics.collect();
    res.setHeader('X-Metrics-Instances', String(instancesAnswered));
    if (!complete) res.setHeader('X-Metrics-Partial', 'true');
    if (unreachable.length > 0) res.setHeader('X-Metrics-Unreachable', unreachable.join(','));
    // Also in the scrape itself, so Prometheus can alert on it.
    const missing = unreachable.map((instance) => `cluster_metrics_unreachable{instance="${instance}"} 1\n`).join('');
    const note = complete ? '' : `# HELP cluster_metrics_unreachable An instance of this host that did not answer this scrape\n# TYPE cluster_metrics_unreachable gauge\n${missing}`;
    res.type(metrics.contentType).send(text + note);
  });
  return router;
}
