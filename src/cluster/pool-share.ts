/**
 * How many PostgreSQL connections each process may open. DB_CONNECTION_BUDGET is the total
 * for every process that uses the same database, on every host: the workers' pools come off
 * the top, and the live API instances split the rest evenly.
 */
export interface BudgetSettings {
  /** Total connections every member sharing the database may hold (DB_CONNECTION_BUDGET). */
  budget: number;
  /** Explicit per-instance size (DB_POOL_MAX): overrides the split. */
  poolMax: number | undefined;
  /** One worker's pool (WORKER_DB_POOL_MAX), reserved even while no worker is live. */
  workerPool: number;
}

/** What the split needs to know of a live member. */
export interface ShareMember {
  role: 'api' | 'worker';
  /** The pool size it asks for. */
  pool: { want: number };
}

/** Connections kept for the workers: what the live ones ask for, at least one worker's pool. */
export function workerReserve(settings: BudgetSettings, members: readonly ShareMember[]): number {
  const live = members.filter((m) => m.role === 'worker').reduce((sum, m) => sum + m.pool.want, 0);
  return Math.max(settings.workerPool, live);
}

/** One API instance's share: floor((budget − worker reserve) / live API instances), at least 1. */
export function apiShare(settings: BudgetSettings, members: readonly ShareMember[]): number {
  if (settings.poolMax !== undefined) return settings.poolMax;
  const apis = Math.max(1, members.filter((m) => m.role === 'api').length);
  return Math.max(1, Math.floor((settings.budget - workerReserve(settings, members)) / apis));
}

/** True when DB_POOL_MAX makes the live API instances' pools plus the workers' exceed the budget. */
export function overrideExceedsBudget(settings: BudgetSettings, members: readonly ShareMember[]): boolean {
  if (settings.poolMax === undefined) return false;
  const apis = Math.max(1, members.filter((m) => m.role === 'api').length);
  return settings.poolMax * apis + workerReserve(settings, members) > settings.budget;
}

/**
 * The smallest budget `apiInstances` API instances and the workers can share: one worker's
 * pool plus one connection per API instance. Below it the split gives an instance nothing and
 * it never becomes ready. (DB_POOL_MAX beyond the budget is allowed, with a warning.)
 */
export function minimumBudget(settings: Pick<BudgetSettings, 'workerPool'>, apiInstances: number): number {
  return settings.workerPool + apiInstances;
}
