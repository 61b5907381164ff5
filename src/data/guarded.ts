import { databaseError } from './db-errors.js';

/**
 * Runs a database call; a failure becomes the AppError its codes call for (db-errors.ts):
 * 503 when the database cannot serve now, 4xx for data it refused, 500 for a bug.
 */
export async function guarded<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw databaseError(operation, error);
  }
}
