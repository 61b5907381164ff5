import { IncomingMessage, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { inspect } from 'node:util';
import helmet from 'helmet';

/**
 * Helmet's security headers, read once at start by running its middleware against a response
 * that only records them. They are the same on every response (no CSP nonce, nothing read from
 * the request), so the first middleware (observability/requests.ts) sets them from this list:
 * helmet's own middleware is twelve nested calls and a router layer on every request
 * (docs/benchmarks.md). Helmet still decides what they are; test/security-headers.test.ts
 * checks that a response carries exactly what helmet's middleware would have set.
 */
export function securityHeaders(options: Parameters<typeof helmet>[0]): Record<string, string> {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader(name: string, value: string | number) {
      headers.set(name, String(value));
      return recorder;
    },
    removeHeader(name: string) {
      headers.delete(name);
    },
  };
  const outcome: { done: boolean; error?: unknown } = { done: false };
  helmet(options)(new IncomingMessage(new Socket()), recorder as unknown as ServerResponse, (error?: unknown) => {
    outcome.done = true;
    outcome.error = error;
  });
  // Helmet calls back synchronously today; if a release stops doing so, fail at start, not silently.
  if (!outcome.done) throw new Error('helmet did not finish synchronously: set its headers with its middleware instead');
  if (outcome.error !== undefined) throw new Error(`helmet refused its options: ${inspect(outcome.error)}`);
  return Object.fromEntries(headers);
}

/**
 * Helmet's defaults (same-origin scripts, styles, connections; no inline script) minus
 * upgrade-insecure-requests: on plain HTTP at any address but localhost (npm start, then
 * http://<server>:3000 from another machine) it rewrites the page's own files to https:// and
 * nothing loads. The page uses relative URLs only, so it has no mixed content to upgrade.
 */
export const HELMET_OPTIONS: Parameters<typeof helmet>[0] = {
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
};
