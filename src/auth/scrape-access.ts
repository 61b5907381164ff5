import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { bearerToken, type TokenService } from './jwt.js';

/**
 * Who may read what gathers from every instance (/metrics) or describes the deployment in
 * full (/api/cluster-info). Outside production: anyone. In production: /metrics only with the
 * scrape token (`Authorization: Bearer <METRICS_TOKEN>`), the full cluster-info with the scrape
 * token or any valid user token. A scrape token rather than a separate port: under PM2 cluster
 * mode a second listener is shared round-robin like the first, so it would need its own
 * firewall rule on every host to mean anything; a token works through the same load balancer,
 * and Prometheus sends one with `authorization: { credentials_file: ... }`.
 */
export interface ScrapeAccess {
  /** True when the request may scrape /metrics. Costs one comparison: checked before any gathering. */
  mayScrape(req: Request): boolean;
  /** True when the request may see the whole deployment: a scraper, or a user with a valid token. */
  maySeeAll(req: Request): Promise<boolean>;
}

export function createScrapeAccess(options: { isProduction: boolean; scrapeToken: string | undefined; tokens: TokenService }): ScrapeAccess {
  const expected = options.scrapeToken === undefined ? undefined : Buffer.from(options.scrapeToken);
  const isScrapeToken = (token: string | undefined): boolean => {
    if (expected === undefined || token === undefined) return false;
    const given = Buffer.from(token);
    // timingSafeEqual needs equal lengths; the length of the expected token is no secret worth keeping.
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const mayScrape = (req: Request) => !options.isProduction || isScrapeToken(bearerToken(req.get('authorization')));
  return {
    mayScrape,
    async maySeeAll(req) {
      if (mayScrape(req)) return true;
      const token = bearerToken(req.get('authorization'));
      if (token === undefined) return false;
      try {
        await options.tokens.verify(token);
        return true;
      } catch {
        return false;
      }
    },
  };
}
