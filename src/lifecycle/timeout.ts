export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Rejects after `ms` if the promise has not settled; the timer never holds the process open. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new TimeoutError(`${what} timed out after ${ms}ms`)); }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
