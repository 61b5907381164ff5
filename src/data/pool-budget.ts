/**
 * How many PostgreSQL connections one API instance may open. The budget is for the whole
 * deployment on this host: the background worker's small pool comes off the top, and the rest
 * is shared evenly by the API instances, so N instances never exceed it together.
 */
export interface PoolBudget {
  /** Total connections the deployment may hold (DB_CONNECTION_BUDGET). */
  budget: number;
  /** Explicit per-instance override (DB_POOL_MAX). */
  poolMax: number | undefined;
  /** What the worker's pool may hold (WORKER_DB_POOL_MAX), reserved from the budget. */
  workerReserve: number;
}

export function apiPoolMax(settings: PoolBudget, instanceCount: number): number {
  if (settings.poolMax !== undefined) return settings.poolMax;
  const shared = settings.budget - settings.workerReserve;
  return Math.max(1, Math.floor(shared / Math.max(1, instanceCount)));
}

/** True when the instances' pools plus the worker's can exceed the budget (a warning at start). */
export function exceedsBudget(settings: PoolBudget, instanceCount: number): boolean {
  return apiPoolMax(settings, instanceCount) * instanceCount + settings.workerReserve > settings.budget;
}
