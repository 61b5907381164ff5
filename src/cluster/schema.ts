import { z } from 'zod';

/** What the cluster routes answer; the handlers are typed by these and /openapi.json is built from them. */

const memberPool = z.object({
  want: z.number().int().meta({ description: 'The size the budget split gives it (or DB_POOL_MAX)' }),
  max: z.number().int().meta({ description: 'Its pool\'s current size' }),
  inUse: z.number().int(),
  open: z.number().int().meta({ description: 'Connections it has open on the server' }),
  waiting: z.number().int(),
});

/** A live process of the deployment, from its last heartbeat (membership-store.ts's Member). */
export const clusterMember = z.object({
  id: z.string(),
  host: z.string(),
  role: z.enum(['api', 'worker']),
  instanceId: z.number().int(),
  pid: z.number().int(),
  version: z.string(),
  startedAt: z.iso.datetime(),
  uptime: z.number(),
  memory: z.object({ rss: z.number().int() }),
  requestsPerSecond: z.number().min(0),
  sockets: z.number().int().min(0),
  pool: memberPool,
  claim: z.number().int().meta({ description: 'Connections it may hold: the budget check counts these' }),
});

/** This instance's database pool and Socket.IO, read on each request from the parts that own them. */
export const runtimeInfo = z.object({
  db: z.object({
    poolMax: z.number().int(),
    budget: z.number().int(),
    pool: z.object({ max: z.number().int(), total: z.number().int(), open: z.number().int(), idle: z.number().int(), inUse: z.number().int(), waiting: z.number().int() }),
  }),
  socket: z.object({ adapter: z.enum(['redis', 'memory']), connectedClients: z.number().int().min(0) }),
});

/**
 * What production shows a caller without a token: what the classic cluster check reads (which
 * instance answered, as which process, whether in cluster mode, on how many cores), and
 * nothing an attacker could use to size an attack or pick a target.
 */
export const clusterInfoPublic = z.object({
  instanceId: z.number().int(),
  pid: z.number().int(),
  clusterMode: z.boolean(),
  cpuCount: z.number().int(),
});

export const clusterInfoBody = z.object({
  ...clusterInfoPublic.shape,
  processManager: z.enum(['pm2', 'node-cluster', 'standalone']),
  instances: z.number().int().min(0).meta({ description: 'Live API instances on this database (every host)' }),
  hostname: z.string().meta({ description: 'HOST_ID' }),
  uptime: z.number(),
  memory: z.object({ rss: z.number().int(), heapUsed: z.number().int() }),
  nodeVersion: z.string(),
  ...runtimeInfo.shape,
  members: z.array(clusterMember).meta({ description: 'Every live API instance and worker, at most a heartbeat (1 s) old' }),
});

export const metricsText = z.string().meta({ description: 'Prometheus text exposition format, every instance of this host' });
