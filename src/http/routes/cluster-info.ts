import { Router } from 'express';
import type { ClusterIdentity } from '../../cluster/identity.js';

/** Fields that belong to layers above the HTTP app (database pool, Socket.IO), read on each request. */
export type RuntimeInfo = () => Record<string, unknown>;

export function clusterInfoRoutes(identity: ClusterIdentity, runtimeInfo: RuntimeInfo): Router {
  const router = Router();
  router.get('/api/cluster-info', (_req, res) => {
    const memory = process.memoryUsage();
    res.json({
      instanceId: identity.instanceId,
      pid: process.pid,
      clusterMode: identity.clusterMode,
      processManager: identity.processManager,
      instances: identity.instanceCount,
      cpuCount: identity.cpuCount,
      hostname: identity.hostname,
      uptime: process.uptime(),
      memory: { rss: memory.rss, heapUsed: memory.heapUsed },
      nodeVersion: process.version,
      ...runtimeInfo(),
    });
  });
  return router;
}
