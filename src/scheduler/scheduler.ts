import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { acquireLease, type Lease } from './lease.js';
import type { Tracing } from '../observability/tracing.js';

export interface Job {
  name: string;
  intervalMs: number;
  /** `lease` is this run's hold on the job's lock: what the run commits goes through it. */
  run(lease: Lease): Promise<void>;
}

export interface Scheduler {
  /** Stops scheduling and waits for a running job to finish. */
  stop(): Promise<void>;
}

/**
 * Runs each job every `intervalMs`, at most once per interval across the whole deployment:
 * a tick first takes a Redis lock that expires with the interval, so a second worker (another
 * host, another pod) skips the tick instead of running the job twice. The lock is renewed
 * while the run lasts (lease.ts): a run slower than its interval still keeps every other
 * worker out, and one that loses its lock anyway cannot commit. If Redis cannot be reached
 * the tick is skipped: a late job is better than a duplicated one.
 */
export function startScheduler(options: { jobs: Job[]; redis: Redis; keyPrefix: string; logger: Logger; tracing?: Tracing | undefined }): Scheduler {
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const tick = async (job: Job) => {
    const log = options.logger.child({ job: job.name });
    try {
      const lease = await acquireLease(options.redis, `${options.keyPrefix}lock:job:${job.name}`, job.intervalMs);
      if (!lease) {
        log.debug({ event: 'job-skipped' }, 'Skipped: another worker holds this interval');
        return;
      }
      const started = performance.now();
      try {
        await job.run(lease);
      } finally {
        lease.end();
      }
      log.debug({ event: 'job-finished', durationMs: Math.round(performance.now() - started) }, 'Job finished');
    } catch (error) {
      log.error({ event: 'job-failed', err: error }, 'Job failed; it will run again next interval');
    }
  };

  const schedule = (job: Job) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      // Traced: a span per tick, its lock, queries and emits inside it.
      const { tracing } = options;
      const run = (tracing ? tracing.span(`job ${job.name}`, { 'app.job': job.name }, () => tick(job)) : tick(job)).finally(() => {
        running.delete(run);
        schedule(job);
      });
      running.add(run);
    }, job.intervalMs);
    timers.add(timer);
  };

  for (const job of options.jobs) schedule(job);
  options.logger.info({ jobs: options.jobs.map((j) => ({ name: j.name, intervalMs: j.intervalMs })) }, 'Scheduler started');

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(running);
    },
  };
}
