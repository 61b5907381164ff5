/**
 * 7. Realtime at scale: `scaleClients` sockets on one instance of the app (API only) and of the
 * minimal Socket.IO + Redis adapter app, one after the other (the reference first): RSS per idle
 * socket, and the time until the last of them has a message posted to their room.
 */
import { createTokenService } from '../../src/auth/jwt.js';
import { TEST_JWT_SECRET } from '../../test/helpers/services.js';
import { fanOutAtScale, type ScaleFigures } from '../measure/fan-out-at-scale.js';
import type { Target } from '../measure/targets.js';
import type { Results } from '../results.js';
import type { Settings } from '../settings.js';

export async function realtimeScaleSection(app: Target, reference: Target, settings: Settings, log: (line: string) => void): Promise<Results['realtimeScale']> {
  const options = { clients: settings.scaleClients, processes: settings.scaleProcesses, messages: settings.scaleMessages, settleMs: settings.mode === 'quick' ? 500 : 10_000 };
  const line = (name: string, f: ScaleFigures) => { log(`${f.clients} sockets on one instance, ${name}: connected in ${f.connectSeconds} s, RSS ${f.rssBeforeMb} → ${f.rssConnectedMb} MB (${f.rssPerSocketKb} kB/socket); last client after ${f.lastClientMedianMs} ms (median), p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, ${f.delivered}/${f.expected} delivered`); };
  const ref = await fanOutAtScale(reference, options);
  line('reference', ref);
  const app1 = await fanOutAtScale(app, { ...options, jwtSecret: TEST_JWT_SECRET, posterToken: await createTokenService(TEST_JWT_SECRET).sign('bench-scale-poster') });
  line('app', app1);
  return { app: app1, reference: ref };
}
