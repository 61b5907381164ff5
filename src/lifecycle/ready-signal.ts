import type { Logger } from '../observability/logger.js';
import type { Readiness } from './readiness.js';

const RETRY_MS = 500;
// Connections are usually still being opened on the first checks; only a wait this long is news.
const WARN_AFTER_MS = 3000;

/**
 * Tells the process manager this instance can serve (PM2's wait_ready), once its
 * dependencies answer, so `pm2 reload` never swaps in an instance that cannot. If they never
 * do, PM2's listen_timeout moves on without us.
 */
export async function signalReadyWhenServing(readiness: Readiness, logger: Logger): Promise<void> {
  if (!process.send) return;
  const started = Date.now();
  let warned = false;
  for (;;) {
    if (readiness.shuttingDown) return;
    const report = await readiness.check();
    if (report.ready) break;
    if (!warned && Date.now() - started >= WARN_AFTER_MS) {
      logger.warn({ checks: report.checks }, 'Waiting for dependencies before reporting ready');
      warned = true;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
  process.send('ready');
}
