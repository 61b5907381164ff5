import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * The folder of socket.io-client's browser bundles (socket.io.min.js), served to the live
 * page from the installed package, so the browser's client moves with the server's version
 * through package-lock.json instead of a copy in the repository (docs/dependencies.md).
 */
export function browserClientDir(): string {
  return dirname(createRequire(import.meta.url).resolve('socket.io-client/dist/socket.io.js'));
}
