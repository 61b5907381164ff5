import { Router } from 'express';
import type { ClusterIdentity } from '../../cluster/identity.js';
import type { Readiness } from '../../lifecycle/readiness.js';

/** Readiness: 200 only while PostgreSQL and Redis answer and the instance is not shutting down. */
export function readyRoutes(readiness: Readiness, identity: ClusterIdentity): Router {
  const router = Router();
  router.get(['/ready', '/api/ready'], async (_req, res) => {
    const report = await readiness.check();
    res.status(report.ready ? 200 : 503).json({ status: report.status, instanceId: identity.instanceId, checks: report.checks });
  });
  return router;
}
