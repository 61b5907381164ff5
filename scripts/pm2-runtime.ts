/**
 * The container's main process: PM2's `pm2-runtime` (PM2 in the foreground, forwarding SIGTERM
 * to a graceful stop of every app), with PM2's own lines ("App [api:0] online", "exited with
 * code [1]") written as JSON like the apps' pino lines, so a container's stdout is one JSON
 * object per line. pm2-runtime runs PM2's daemon in this process and prints those lines through
 * console.*, each prefixed with a date unless PM2_LOG_DATE_FORMAT is empty; the apps' lines
 * reach stdout through process.stdout.write, untouched. Arguments are pm2-runtime's.
 */
import { createRequire } from 'node:module';
import { format } from 'node:util';

process.env.PM2_LOG_DATE_FORMAT = '';

const levels = { log: 'info', info: 'info', warn: 'warn', error: 'error' } as const;
for (const [method, level] of Object.entries(levels)) {
  // stdout, like every pino line of the apps: the level field tells errors apart.
  console[method as keyof typeof levels] = (...args: unknown[]) => {
    const line = { level, time: new Date().toISOString(), pid: process.pid, role: 'pm2', msg: format(...args) };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
}

// Loaded only now, so PM2 sees the variable above when it reads its constants.
createRequire(import.meta.url)('pm2/lib/binaries/Runtime4Docker.js');
