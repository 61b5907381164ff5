/**
 * 4. Reload: failed and non-2xx requests over two `pm2 reload`s in a row under ab -k -r
 * keep-alive load. ab runs in back-to-back chunks until both reloads are done, since a reload's
 * length varies with the machine's load.
 */
import { ab } from '../../test/helpers/load.js';
import type { Target } from '../measure/targets.js';
import type { Results } from '../results.js';

const CHUNK_SECONDS = 2;

export async function reloadSection(app: Target): Promise<Results['reload']> {
  const reloadMillis: number[] = [];
  const reloads = (async () => {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let i = 0; i < 2; i += 1) {
      const started = performance.now();
      await app.pm2('reload', 'api');
      reloadMillis.push(Math.round(performance.now() - started));
    }
  })();
  const state = { reloading: true };
  void reloads.finally(() => { state.reloading = false; });
  const totals = { complete: 0, failed: 0, non2xx: 0, seconds: 0 };
  // One more chunk after the reloads: the new instances serve too.
  for (let extra = 1; state.reloading || extra-- > 0; ) {
    const run = await ab(`${app.baseUrl}/api/status`, { concurrency: 8, seconds: CHUNK_SECONDS });
    totals.complete += run.complete;
    totals.failed += run.failed;
    totals.non2xx += run.non2xx;
    totals.seconds += CHUNK_SECONDS;
  }
  await reloads;
  return { reloads: 2, ...totals, reloadMillis };
}
