import { Router } from 'express';
import type { z } from 'zod';
import type { RouteContract, RoutesWithContract } from '../http/contract.js';
import type { ClusterIdentity } from './identity.js';
import type { Membership } from './membership.js';
import { clusterInfoBody, type runtimeInfo } from './schema.js';

/** Fields that belong to other parts of the instance (database pool, Socket.IO), read on each request. */
export type RuntimeInfo = () => z.infer<typeof runtimeInfo>;

export const clusterInfoContract: RouteContract[] = [
  {
    method: 'get',
    path: '/api/cluster-info',
    tag: 'cluster',
    summary: 'This instance, and every live process of the deployment as the cluster membership sees it',
    responses: { 200: { description: 'The instance and its cluster', schema: clusterInfoBody } },
  },
];

/**
 * What this instance is, and the cluster as it sees it: `instances` is the live count of API
 * instances sharing the database (every host), `members` every live process with its host,
 * role, pool and load, from the membership heartbeats (at most a heartbeat old).
 */
export function clusterInfoRoutes(deps: { identity: ClusterIdentity; host: string; membership: Membership; runtimeInfo: RuntimeInfo }): RoutesWithContract {
  const { identity, membership } = deps;
  const router = Router();
  router.get('/api/cluster-info', (_req, res) => {
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
