import { Router } from 'express';
import { packageInfo } from '../config/package-info.js';
import type { Readiness } from '../lifecycle/readiness.js';

/**
 * - Liveness (/health): answers from the process alone, never from a dependency, so a slow
 *   database cannot get an instance killed.
 * - Readiness (/ready): 200 only while PostgreSQL and Redis answer and the instance is not
 *   shutting down.
 * - Status (/api/status): what runs here.
 */
export function healthRoutes(deps: { instanceId: number; readiness: Readiness; environment: string }): Router {
  const router = Router();
  router.get(['/health', '/api/health'], (_req, res) => {
    res.json({
      status: 'ok',
      timestamp: new Date().toISOString(),
      uptime: process.uptime(),
      worker: process.pid,
      instanceId: deps.instanceId,
    });
  });

  router.get(['/ready', '/api/ready'], async (_req, res) => {
    const report = await deps.readiness.check();
    res.status(report.ready ? 200 : 503).json({ status: report.status, instanceId: deps.instanceId, checks: report.checks });
  });

  router.get('/api/status', (_req, res) => {
    res.json({
      message: `${packageInfo.name} is running`,
      version: packageInfo.version,
      environment: deps.environment,
      worker: process.pid,
    });
  });
  return router;
}
