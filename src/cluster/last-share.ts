import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The pool size this instance last had while the cluster's membership was reachable, kept in
 * a small file on its host. An instance (re)started while Redis is down cannot learn its
 * share; it takes this one, which the budget allowed at the last membership it knew, rather
 * than no connection at all (and 1 when there is none). Lost with the host's temp folder,
 * which only costs that fallback.
 */
export interface LastShare {
  read(): number | undefined;
  write(size: number): void;
}

export function lastShareFile(options: { scope: string; keyPrefix: string; host: string; instanceId: number }): LastShare {
  const safe = (text: string) => text.replace(/[^\w.-]/g, '_');
  const path = join(tmpdir(), `express-pm2-cluster-share-${options.scope}-${safe(options.keyPrefix)}-${safe(options.host)}-api-${options.instanceId}`);
  let written: number | undefined;
  return {
    read() {
      try {
        const size = Number(readFileSync(path, 'utf8').trim());
        return Number.isInteger(size) && size > 0 ? size : undefined;
      } catch {
        return undefined;
      }
    },
    write(size) {
      if (size === written || size < 1) return;
      try {
        writeFileSync(path, `${size}\n`);
        written = size;
      } catch {
        // Only the fallback is lost.
      }
    },
  };
}
