import cluster from 'node:cluster';
import os from 'node:os';

/**
 * Who this process is within its deployment. The one place that reads the variables PM2
 * and our node:cluster primary set, so everything else asks this module instead.
 */

export type ProcessManager = 'pm2' | 'node-cluster' | 'standalone';

export interface ClusterIdentity {
  readonly instanceId: number;
  readonly instanceCount: number;
  readonly processManager: ProcessManager;
  readonly clusterMode: boolean;
  readonly cpuCount: number;
  readonly hostname: string;
}

function toInt(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

export function detectIdentity(env: NodeJS.ProcessEnv = process.env): ClusterIdentity {
  const common = { cpuCount: os.availableParallelism(), hostname: os.hostname() };
  if (env.pm_id !== undefined) {
    return Object.freeze({
      ...common,
      processManager: 'pm2' as const,
      instanceId: toInt(env.NODE_APP_INSTANCE) ?? 0,
      // PM2 passes the resolved count (e.g. "2" for instances: 'max').
      instanceCount: toInt(env.instances) ?? 1,
      clusterMode: env.exec_mode === 'cluster_mode',
    });
  }
  if (cluster.isWorker && cluster.worker) {
    return Object.freeze({
      ...common,
      processManager: 'node-cluster' as const,
      instanceId: cluster.worker.id,
      // Set by src/cluster.ts for each worker it forks.
      instanceCount: toInt(env.CLUSTER_WORKERS) ?? 1,
      clusterMode: true,
    });
  }
  return Object.freeze({
    ...common,
    processManager: 'standalone' as const,
    instanceId: 0,
    instanceCount: 1,
    clusterMode: false,
  });
}
