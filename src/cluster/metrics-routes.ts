import { Router } from 'express';
import { NO_STORE } from '../auth/require-auth.js';
import type { ScrapeAccess } from '../auth/scrape-access.js';
import { AppError } from '../errors/app-error.js';
import type { RouteContract, RoutesWithContract } from '../http/contract.js';
import type { ClusterMetrics } from './cluster-metrics.js';
import { metricsText } from './schema.js';

export const metricsContract: RouteContract[] = [
  {
    method: 'get',
    path: '/metrics',
    tag: 'cluster',
    summary:
      'Prometheus scrape of every instance on this host; answers within 2.5 s even while Redis is down. In production it needs the scrape token (`Authorization: Bearer <METRICS_TOKEN>`). ' +
      'One gathering serves every scrape of the same second (per instance); `HEAD` answers without gathering',
    responses: {
      200: {
        description: 'The metrics of every instance that answered in time',
        schema: metricsText,
        contentType: 'text/plain',
        headers: {
          'X-Metrics-Instances': 'How many instances answered',
          'X-Metrics-Partial': '`true` when one did not answer in time',
          'X-Metrics-Unreachable': 'The instance ids that answered before but not now (also as `cluster_metrics_unreachable{instance}` series)',
        },
      },
    },
    errors: { 401: 'In production, without the scrape token', 429: 'Over API_RATE_LIMIT (see `Retry-After`)' },
  },
];

/** Prometheus scrape endpoint; describes every instance on this host (see cluster-metrics.ts). */
export function metricsRoutes(metrics: ClusterMetrics, access: ScrapeAccess): RoutesWithContract {
  const router = Router();
  // Express sends HEAD here too.
  router.get('/metrics', async (req, res) => {
    // Never stored, its 401 included.
    res.setHeader('Cache-Control', NO_STORE);
    // Before any gathering: a scrape without the token costs what a 401 costs.
    if (!access.mayScrape(req)) throw AppError.unauthorized('Scraping needs the scrape token: Authorization: Bearer <METRICS_TOKEN>');
    if (req.method === 'HEAD') {
      res.type(metrics.contentType).end();
      return;
    }
    const { text, instancesAnswered, complete, unreachable } = await metrics.collect();
    res.setHeader('X-Metrics-Instances', String(instancesAnswered));
    if (!complete) res.setHeader('X-Metrics-Partial', 'true');
    if (unreachable.length > 0) res.setHeader('X-Metrics-Unreachable', unreachable.join(','));
    // Also in the scrape itself, so Prometheus can alert on it.
    const missing = unreachable.map((instance) => `cluster_metrics_unreachable{instance="${instance}"} 1\n`).join('');
    const note = complete ? '' : `# HELP cluster_metrics_unreachable An instance of this host that did not answer this scrape\n# TYPE cluster_metrics_unreachable gauge\n${missing}`;
    res.type(metrics.contentType).send(text + note);
  });
  return { router, contract: metricsContract };
}
