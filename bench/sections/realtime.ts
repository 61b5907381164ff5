/**
 * 5. Realtime: POST → receipt latency for each socket count, the app beside the minimal
 * Socket.IO + Redis adapter app (bench/apps/socketio-redis.ts), which goes first alternating.
 * With the largest count still connected, each instance's RSS is read (the memory section's
 * "after 1,000 sockets").
 */
import { createTokenService } from '../../src/auth/jwt.js';
import { TEST_JWT_SECRET } from '../../test/helpers/services.js';
import { connectClients, fanOut, type FanOutFigures } from '../measure/fan-out.js';
import { rssMb } from '../measure/proc.js';
import type { Target } from '../measure/targets.js';
import type { Results } from '../results.js';
import type { Settings } from '../settings.js';

const tokens = createTokenService(TEST_JWT_SECRET);

async function run(target: Target, clients: number, settings: Settings, withToken: boolean): Promise<{ figures: FanOutFigures; rss: number[] }> {
  // One user per socket: the app caps sockets per user (MAX_SOCKETS_PER_USER).
  const connected = await connectClients(target.baseUrl, clients, withToken ? (i) => tokens.sign(`bench-${i}`) : undefined);
  try {
    const token = withToken ? await tokens.sign('bench-poster') : undefined;
    const figures = await fanOut(target.baseUrl, connected.sockets, { messages: settings.messages, intervalMs: clients >= 500 ? 150 : 50, token });
    const rss = (await target.pids()).map(rssMb);
    return { figures, rss };
  } finally {
    connected.close();
  }
}

export async function realtimeSection(app: Target, reference: Target, settings: Settings, log: (line: string) => void): Promise<{ realtime: Results['realtime']; rssAtMost: { app: number[]; reference: number[] } }> {
  const realtime: Results['realtime'] = [];
  let rssAtMost = { app: [] as number[], reference: [] as number[] };
  for (const [i, clients] of settings.sockets.entries()) {
    const order = i % 2 === 0 ? (['reference', 'app'] as const) : (['app', 'reference'] as const);
    const out: Partial<Record<'app' | 'reference', { figures: FanOutFigures; rss: number[] }>> = {};
    for (const which of order) {
      out[which] = await run(which === 'app' ? app : reference, clients, settings, which === 'app');
      log(`realtime ${clients} clients, ${which}: p50 ${out[which].figures.p50Ms} ms, p99 ${out[which].figures.p99Ms} ms, ${out[which].figures.delivered}/${out[which].figures.expected} delivered`);
    }
    if (out.app && out.reference) {
      realtime.push({ clients, app: out.app.figures, reference: out.reference.figures });
      if (clients === Math.max(...settings.sockets)) rssAtMost = { app: out.app.rss, reference: out.reference.rss };
    }
  }
  return { realtime, rssAtMost };
}
