import { Router } from 'express';
import type { ClusterIdentity } from '../../cluster/identity.js';

/** Liveness: answers from the process alone, never from a dependency, so a slow database cannot get an instance killed. */
export function healthRoutes(identity: ClusterIdentity): Router {
  const router = Router();
  router.get(['/health', '/api/health'], (_req, res) => {
    res.json({
      status: 'ok',
      timestamp: new Date().toISOString(),
      uptime: process.uptime(),
      worker: process.pid,
      instanceId: identity.instanceId,
    });
  });
  return router;
}
