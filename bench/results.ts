/** The shape of bench/results/<date>.json: every section's figures, per round and as medians. */
import type { FanOutFigures } from './measure/fan-out.js';
import type { ScaleFigures } from './measure/fan-out-at-scale.js';
import type { LoadFigures } from './measure/load-run.js';

export interface Summary {
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
  daemonMicrosPerRequest: number;
  /** Median over rounds of this run's CPU/request divided by bare Express's in the same round. */
  cpuRatioToExpress?: number;
  /** The same, against the run named `reference` (the database routes' Express + pg). */
  reference?: string;
  cpuRatioToReference?: number;
}

export interface MemoryFigures {
  /** RSS in MB of each instance. */
  idle: number[];
  afterLoad: number[];
  after1000Sockets?: number[];
  /** PSS in MB of each instance, idle and after load (measure/proc.ts). */
  idlePss: number[];
  afterLoadPss: number[];
  /** Requests the target served between idle and afterLoad. */
  requestsServed: number;
}

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface Results {
  meta: { date: string; mode: string; cpus: number; cpuModel: string; memoryGb: number; node: string; instances: number; rounds: number; seconds: number; concurrency: number; load1Start: number; load1End: number; durationSeconds: number };
  cpu: { runs: string[]; rounds: { round: number; order: string[]; figures: Record<string, LoadFigures> }[]; medians: Record<string, Summary> };
  scaling: { rounds: { round: number; one: LoadFigures; perCore: LoadFigures }[]; one: Summary; perCore: Summary; throughputRatio: number; spreadPerCore: number[] };
  memory: { targets: Record<string, MemoryFigures>; workerIdle: number; workerIdlePss: number };
  reload: { reloads: number; complete: number; failed: number; non2xx: number; seconds: number; reloadMillis: number[] };
  realtime: { clients: number; app: FanOutFigures; reference: FanOutFigures }[];
  /** Many sockets on one instance: the app (API only) beside the Socket.IO reference app. */
  realtimeScale: { app: ScaleFigures; reference: ScaleFigures };
  database: { budget: number; concurrency: number; read: LoadFigures & { peakConnections: number }; write: LoadFigures & { peakConnections: number } };
  goals: Goal[];
}
