/** 4. Reload: failed and non-2xx requests over two `pm2 reload`s in a row under ab -k -r keep-alive load. */
import { ab } from '../../test/helpers/load.js';
import { sleep } from '../../test/helpers/services.js';
import type { Target } from '../measure/targets.js';
import type { Results } from '../results.js';
import type { Settings } from '../settings.js';

export async function reloadSection(app: Target, settings: Settings): Promise<Results['reload']> {
  const load = ab(`${app.baseUrl}/api/status`, { concurrency: 8, seconds: settings.reloadSeconds });
  await sleep(1000);
  const reloadMillis: number[] = [];
  for (let i = 0; i < 2; i += 1) {
    const started = performance.now();
    await app.pm2('reload', 'api');
    reloadMillis.push(Math.round(performance.now() - started));
  }
  const run = await load;
  return { reloads: 2, complete: run.complete, failed: run.failed, non2xx: run.non2xx, seconds: settings.reloadSeconds, reloadMillis };
}
