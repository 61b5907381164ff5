import cluster from 'node:cluster';
import os from 'node:os';

/**
 * Who this process is within its deployment. The one place that reads the variables PM2
 * and our node:cluster primary set, so everything else asks this module instead. How many
 * instances run is not here: PM2's launch-time count goes stale on reload and scale, so the
 * live count comes from the cluster membership (membership.ts).
 */

export type ProcessManager = 'pm2' | 'node-cluster' | 'standalone';

export interface ClusterIdentity {
  readonly instanceId: number;
  readonly processManager: ProcessManager;
  readonly clusterMode: boolean;
  readonly cpuCount: number;
  /**
   * PM2's out log file when this process itself appends to it and is the only one that does:
   * a cluster-mode instance (PM2 writes the file from inside it) with merge_logs off. Fork
   * mode's file is written by the PM2 daemon, from a pipe.
   */
  readonly ownLogFile?: string | undefined;
  /** PM2's max_memory_restart in bytes (PM2 passes its settings to the process's environment), for the memory alert. */
  readonly maxMemoryRestartBytes?: number | undefined;
}

function toInt(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

export function detectIdentity(env: NodeJS.ProcessEnv = process.env): ClusterIdentity {
  const cpuCount = os.availableParallelism();
  if (env.pm_id !== undefined) {
    return Object.freeze({
      cpuCount,
      processManager: 'pm2' as const,
      instanceId: toInt(env.NODE_APP_INSTANCE) ?? 0,
      clusterMode: env.exec_mode === 'cluster_mode',
      ownLogFile: env.exec_mode === 'cluster_mode' && env.merge_logs !== 'true' && env.pm_out_log_path?.startsWith('/') && env.pm_out_log_path !== '/dev/null' ? env.pm_out_log_path : undefined,
      maxMemoryRestartBytes: toInt(env.max_memory_restart),
    });
  }
  if (cluster.isWorker && cluster.worker) {
    return Object.freeze({ cpuCount, processManager: 'node-cluster' as const, instanceId: cluster.worker.id, clusterMode: true });
  }
  return Object.freeze({ cpuCount, processManager: 'standalone' as const, instanceId: 0, clusterMode: false });
}
