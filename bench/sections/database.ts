/**
 * 6. Database: a read route and a write route at 200 concurrent connections with the default
 * connection budget, with the database's peak connection count sampled during each run.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenService } from '../../src/auth/jwt.js';
import { TEST_JWT_SECRET } from '../../test/helpers/services.js';
import { measureLoad } from '../measure/load-run.js';
import { peakConnections } from '../measure/pg-peak.js';
import type { Target } from '../measure/targets.js';
import type { Results } from '../results.js';
import type { Settings } from '../settings.js';

export const READ_PATH = '/api/rooms/bench/messages?limit=20';
export const WRITE_PATH = '/api/rooms/bench/messages';

/** The write every database run POSTs: one message, as one user (the reference ignores the token). */
export async function writeRequest(): Promise<{ file: string; headers: Record<string, string> }> {
  const file = join(tmpdir(), `bench-post-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({ body: 'bench write' }));
  return { file, headers: { authorization: `Bearer ${await createTokenService(TEST_JWT_SECRET).sign('bench-writer')}` } };
}

/** Gives the read route something to read. */
export async function seedMessages(app: Target, count: number): Promise<void> {
  const token = await createTokenService(TEST_JWT_SECRET).sign('bench-seed');
  for (let i = 0; i < count; i += 1) {
    const res = await fetch(`${app.baseUrl}${WRITE_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ body: `seed ${i}` }) });
    if (res.status !== 201) throw new Error(`seeding answered ${res.status}`);
  }
}

export async function databaseSection(app: Target, databaseName: string, settings: Settings, log: (line: string) => void): Promise<Results['database']> {
  const ab = { concurrency: settings.dbConcurrency, seconds: settings.dbSeconds };
  const read = await peakConnections(databaseName, () => measureLoad(app, READ_PATH, ab));
  log(`database read: ${read.result.requestsPerSecond} req/s, ${read.result.non2xx} non-2xx, ${read.result.failed} failed, peak ${read.peak} connections`);
  const post = await writeRequest();
  const write = await peakConnections(databaseName, () => measureLoad(app, WRITE_PATH, { ...ab, postFile: post.file, headers: post.headers }));
  log(`database write: ${write.result.requestsPerSecond} req/s, ${write.result.non2xx} non-2xx, ${write.result.failed} failed, peak ${write.peak} connections`);
  return { budget: 20, concurrency: settings.dbConcurrency, read: { ...read.result, peakConnections: read.peak }, write: { ...write.result, peakConnections: write.peak } };
}
