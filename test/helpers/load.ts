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
  return {
    complete: field(stdout, 'Complete requests'),
    failed: field(stdout, 'Failed requests'),
    non2xx: field(stdout, 'Non-2xx responses'),
    keepAlive: field(stdout, 'Keep-Alive requests'),
    requestsPerSecond: field(stdout, 'Requests per second'),
    raw: stdout,
  };
}
