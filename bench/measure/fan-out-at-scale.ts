/**
 * Realtime at scale: `clients` WebSocket clients on ONE instance, held by a few child processes
 * (socket-clients.ts), all joined to one room. Reads the instance's RSS before they connect and
 * once they idle (RSS per idle socket), then POSTs `messages` messages one at a time and, for
 * each, takes every client's receipt time: the time until the last client had it, and p50/p99
 * over every receipt.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../test/helpers/services.js';
import { postMessage } from '../../test/helpers/realtime.js';
import { median, round, rssMb } from './proc.js';
import type { FromChild, ToChild } from './socket-clients.js';
import type { Target } from './targets.js';

export interface ScaleFigures {
  clients: number;
  processes: number;
  /** The instance's RSS (MB) before the clients connected, and with all of them connected and idle. */
  rssBeforeMb: number;
  rssConnectedMb: number;
  /** (connected − before) / clients, in kB. */
  rssPerSocketKb: number;
  connectSeconds: number;
  /** Per message, ms from the POST until the last client had it; the median over messages. */
  lastClientMs: number[];
  lastClientMedianMs: number;
  p50Ms: number;
  p99Ms: number;
  delivered: number;
  expected: number;
}

const ROOM = 'bench-scale';
const now = () => performance.timeOrigin + performance.now();

function waitFor<T extends FromChild['kind']>(child: ChildProcess, kind: T, timeoutMs: number): Promise<Extract<FromChild, { kind: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`client process: no ${kind} within ${timeoutMs} ms`)); }, timeoutMs);
    const onMessage = (message: FromChild) => {
      if (message.kind === 'error') { cleanup(); reject(new Error(`client process: ${message.message}`)); }
      else if (message.kind === kind) { cleanup(); resolve(message as Extract<FromChild, { kind: T }>); }
    };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`client process exited (${code}) before ${kind}`)); };
    const cleanup = () => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit); };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export async function fanOutAtScale(target: Target, options: { clients: number; processes: number; messages: number; jwtSecret?: string; posterToken?: string; settleMs: number }): Promise<ScaleFigures> {
  const [pid] = await target.pids();
  if (pid === undefined || (await target.pids()).length !== 1) throw new Error(`${target.name}: the scale run needs exactly one instance`);
  const rssBeforeMb = rssMb(pid);
  const children = Array.from({ length: options.processes }, () => fork(join(ROOT, 'bench', 'measure', 'socket-clients.ts'), { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const send = (child: ChildProcess, message: ToChild) => { child.send(message); };
  try {
    const started = performance.now();
    const share = (i: number) => Math.floor(options.clients / options.processes) + (i < options.clients % options.processes ? 1 : 0);
    await Promise.all(children.map((child, i) => {
      const connected = waitFor(child, 'connected', 600_000);
      send(child, { kind: 'connect', baseUrl: target.baseUrl, count: share(i), room: ROOM, userPrefix: `scale-${i}`, ...(options.jwtSecret ? { jwtSecret: options.jwtSecret } : {}) });
      return connected;
    }));
    const connectSeconds = round((performance.now() - started) / 1000);
    await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    const rssConnectedMb = rssMb(pid);
    const lastClientMs: number[] = [];
    const latencies: number[] = [];
    for (let m = 0; m < options.messages; m += 1) {
      const body = `scale-${m}-${Math.random().toString(36).slice(2)}`;
      const receipts = children.map((child) => waitFor(child, 'received', 60_000));
      for (const child of children) send(child, { kind: 'expect', body });
      // Each child has its listener armed before the POST leaves.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const sent = now();
      const res = await postMessage(target.baseUrl, ROOM, { body }, options.posterToken);
      if (res.status !== 201) throw new Error(`POST answered ${res.status}`);
      const at = (await Promise.all(receipts)).flatMap((r) => r.at);
      for (const t of at) latencies.push(t - sent);
      if (at.length > 0) lastClientMs.push(round(Math.max(...at) - sent));
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      clients: options.clients,
      processes: options.processes,
      rssBeforeMb,
      rssConnectedMb,
      rssPerSocketKb: round(((rssConnectedMb - rssBeforeMb) * 1024) / options.clients),
      connectSeconds,
      lastClientMs,
      lastClientMedianMs: round(median(lastClientMs)),
      p50Ms: round(median(sorted)),
      p99Ms: round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0),
      delivered: latencies.length,
      expected: options.messages * options.clients,
    };
  } finally {
    for (const child of children) {
      if (child.connected) send(child, { kind: 'close' });
    }
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null) return;
      await new Promise((resolve) => { const t = setTimeout(() => { child.kill(); }, 10_000); child.once('exit', () => { clearTimeout(t); resolve(undefined); }); });
    }));
  }
}
