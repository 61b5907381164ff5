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
export async function ab(url: string, options: { concurrency: number; seconds: number; method?: 'GET' }): Promise<AbResult> {
  const { stdout } = await execFileAsync('ab', ['-k', '-r', '-l', '-q', '-c', String(options.concurrency), '-t', String(options.seconds), '-n', '10000000', url], {
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
