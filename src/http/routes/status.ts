import { Router } from 'express';
import { packageInfo } from '../../config/package-info.js';

export function statusRoutes(environment: string): Router {
  const router = Router();
  router.get('/api/status', (_req, res) => {
    res.json({
      message: `${packageInfo.name} is running`,
      version: packageInfo.version,
      environment,
      worker: process.pid,
    });
  });
  return router;
}
