import { spawn } from 'node:child_process';
import { execFileAsync } from './services.js';

export interface AbResult {
  complete: number;
  failed: number;
  non2xx: number;
  keepAlive: number;
  requestsPerSecond: number;
  raw: string;
}

function field(raw: string, label: string): number {
  const match = new RegExp(`${label}:\\s+([\\d.]+)`).exec(raw);
  return match ? Number(match[1]) : 0;
}

function report(raw: string): AbResult {
  return {
    complete: field(raw, 'Complete requests'),
    failed: field(raw, 'Failed requests'),
    non2xx: field(raw, 'Non-2xx responses'),
    keepAlive: field(raw, 'Keep-Alive requests'),
    requestsPerSecond: field(raw, 'Requests per second'),
    raw,
  };
}

/**
 * ApacheBench with keep-alive (-k) that records cut-off requests as failures instead of
 * exiting (-r), and accepts bodies of varying length (-l: pids and uptimes differ).
 */
export interface AbOptions {
  concurrency: number;
  seconds: number;
  /** POSTs this file's contents as application/json instead of GETting. */
  postFile?: string;
  headers?: Record<string, string>;
}

export async function ab(url: string, options: AbOptions): Promise<AbResult> {
  const extra = [
    ...(options.postFile ? ['-p', options.postFile, '-T', 'application/json'] : []),
    ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
  ];
  const { stdout } = await execFileAsync('ab', ['-k', '-r', '-l', '-q', ...extra, '-c', String(options.concurrency), '-t', String(options.seconds), '-n', '10000000', url], {
    timeout: (options.seconds + 30) * 1000,
    maxBuffer: 8 * 1024 * 1024,
  });
  return report(stdout);
}

export interface RunningAb {
  /** Whether ab is still running (it was not stopped and has not ended by itself). */
  running(): boolean;
  /** Interrupts ab (SIGINT: it prints what it did so far) and resolves with its report. */
  stop(): Promise<AbResult>;
}

/**
 * ab as above, running until stopped, so a test can put events (reloads) inside its load
 * window and know they were: ab is given far more time and requests than the test needs.
 */
export function startAb(url: string, options: { concurrency: number }): RunningAb {
  const child = spawn('ab', ['-k', '-r', '-l', '-q', '-c', String(options.concurrency), '-t', '600', '-n', '100000000', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  let ended = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { ended = true; resolve(); }));
  return {
    running: () => !ended,
    async stop() {
      if (!ended) child.kill('SIGINT');
      await exited;
      return report(stdout);
    },
  };
}
