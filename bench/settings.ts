/** The bench's sizes: full by default, `--quick` for a run under 2 minutes; flags override either. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../test/helpers/services.js';

export interface Settings {
  mode: 'quick' | 'full';
  /** Rounds of the alternating comparisons; each figure is the median over them. */
  rounds: number;
  /** Seconds of each ab run. */
  seconds: number;
  concurrency: number;
  /** Socket counts of the fan-out runs. */
  sockets: number[];
  messages: number;
  /** Clients on one instance in the realtime-at-scale run, the processes holding them, messages sent to them. */
  scaleClients: number;
  scaleProcesses: number;
  scaleMessages: number;
  dbSeconds: number;
  dbConcurrency: number;
  /** Seconds the apps idle after start before their memory is read. */
  settleSeconds: number;
  out: string;
}

export function readSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      sockets: { type: 'string' },
      messages: { type: 'string' },
      'scale-clients': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const quick = values.quick;
  const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value));
  const seconds = number(values.seconds, quick ? 2 : 6);
  return {
    mode: quick ? 'quick' : 'full',
    rounds: number(values.rounds, quick ? 3 : 5),
    seconds,
    concurrency: 32,
    sockets: values.sockets ? values.sockets.split(',').map(Number) : [100, 1000],
    messages: number(values.messages, quick ? 10 : 30),
    scaleClients: number(values['scale-clients'], quick ? 40 : 10_000),
    // Each holds a share of the clients in its own event loop (bench/measure/socket-clients.ts).
    scaleProcesses: quick ? 2 : 4,
    scaleMessages: quick ? 2 : 10,
    dbSeconds: Math.max(seconds, quick ? 2 : 8),
    dbConcurrency: 200,
    // V8 shrinks the young generation that start-up grew (≈ 20 MB per instance) with the memory
    // reducer's GC, ≈ 9 s after start-up's last full GC: idle memory is read once it has run.
    settleSeconds: quick ? 2 : 25,
    out: values.out ?? join(ROOT, 'bench', 'results'),
  };
}
