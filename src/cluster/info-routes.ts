import { Router } from 'express';
import { z } from 'zod';
import { NO_STORE } from '../auth/require-auth.js';
import type { ScrapeAccess } from '../auth/scrape-access.js';
import type { RouteContract, RoutesWithContract } from '../http/contract.js';
import type { ClusterIdentity } from './identity.js';
import type { Membership } from './membership.js';
import { clusterInfoBody, clusterInfoPublic, type runtimeInfo } from './schema.js';

/** Fields that belong to other parts of the instance (database pool, Socket.IO), read on each request. */
export type RuntimeInfo = () => z.infer<typeof runtimeInfo>;

export const clusterInfoContract: RouteContract[] = [
  {
    method: 'get',
    path: '/api/cluster-info',
    tag: 'cluster',
    summary: 'This instance, and every live process of the deployment as the cluster membership sees it',
    description:
      'In production, only `instanceId`, `pid`, `clusterMode` and `cpuCount` unless the request carries a valid user token or the scrape token (`Authorization: Bearer ...`).',
    responses: { 200: { description: 'The instance and its cluster (in production without a token: the four public fields)', schema: z.union([clusterInfoBody, clusterInfoPublic]) } },
  },
];

/**
 * What this instance is, and the cluster as it sees it: `instances` is the live count of API
 * instances sharing the database (every host), `members` every live process with its host,
 * role, pool and load, from the membership heartbeats (at most a heartbeat old).
 */
export function clusterInfoRoutes(deps: { identity: ClusterIdentity; host: string; membership: Membership; runtimeInfo: RuntimeInfo; access: ScrapeAccess }): RoutesWithContract {
  const { identity, membership } = deps;
  const router = Router();
  router.get('/api/cluster-info', async (req, res) => {
    // The answer depends on the token.
    res.setHeader('Cache-Control', NO_STORE);
    if (!(await deps.access.maySeeAll(req))) {
      const shown: z.infer<typeof clusterInfoPublic> = { instanceId: identity.instanceId, pid: process.pid, clusterMode: identity.clusterMode, cpuCount: identity.cpuCount };
      res.json(shown);
      return;
    }
    const memory = process.memoryUsage();
    const body: z.infer<typeof clusterInfoBody> = {
      instanceId: identity.instanceId,
      pid: process.pid,
      clusterMode: identity.clusterMode,
      processManager: identity.processManager,
      instances: membership.apiInstances(),
      cpuCount: identity.cpuCount,
      hostname: deps.host,
      uptime: process.uptime(),
      memory: { rss: memory.rss, heapUsed: memory.heapUsed },
      nodeVersion: process.version,
      ...deps.runtimeInfo(),
      members: membership.members(),
    };
    res.json(body);
  });
  return { router, contract: clusterInfoContract };
}
