import { Router } from 'express';
import type { z } from 'zod';
import { packageInfo } from '../config/package-info.js';
import type { RouteContract, RoutesWithContract } from '../http/contract.js';
import type { Readiness } from '../lifecycle/readiness.js';
import { healthBody, readinessBody, statusBody } from './schema.js';

export const healthContract: RouteContract[] = [
  {
    method: 'get',
    path: ['/health', '/api/health'],
    tag: 'health',
    summary: 'Liveness: the process answers; no dependency is called',
    responses: { 200: { description: 'Alive', schema: healthBody } },
  },
  {
    method: 'get',
    path: ['/ready', '/api/ready'],
    tag: 'health',
    summary: 'Readiness: PostgreSQL and Redis answer, or only an outage every instance shares keeps one from answering; not shutting down',
    responses: {
      200: { description: 'Ready for traffic: `ok`, or `degraded` during an outage every instance shares', schema: readinessBody },
      503: { description: 'Not ready: `unavailable` (starting, or this instance alone cut off; a failing check says why) or `shutting_down`', schema: readinessBody },
    },
  },
  {
    method: 'get',
    path: '/api/status',
    tag: 'health',
    summary: 'What runs here: name, version, environment',
    responses: { 200: { description: 'The running build', schema: statusBody } },
  },
];

/** Longer than any health body: a 24-character timestamp, an uptime in ms, a 7-digit pid. */
export const HEALTH_BODY_BYTES = 160;

/**
 * - Liveness (/health): answers from the process alone, never from a dependency, so a slow
 *   database cannot get an instance killed.
 * - Readiness (/ready): 200 once PostgreSQL and Redis have answered, for as long as this
 *   instance is not alone in losing one of them and is not shutting down (lifecycle/readiness.ts).
 * - Status (/api/status): what runs here.
 */
export function healthRoutes(deps: { instanceId: number; readiness: Readiness; environment: z.infer<typeof statusBody>['environment'] }): RoutesWithContract {
  const router = Router();
  router.get(['/health', '/api/health'], (_req, res) => {
    const body: z.infer<typeof healthBody> = {
      status: 'ok',
      timestamp: new Date().toISOString(),
      uptime: Math.round(process.uptime() * 1000) / 1000,
      worker: process.pid,
      instanceId: deps.instanceId,
    };
    // Always HEALTH_BODY_BYTES long (JSON allows trailing spaces): ApacheBench, which every PM2
    // guide points at this route, counts an answer whose length differs from the first as
    // failed, and the uptime, pid and instance id vary in length between answers.
    res.type('json').send(JSON.stringify(body).padEnd(HEALTH_BODY_BYTES));
  });

  router.get(['/ready', '/api/ready'], async (_req, res) => {
    const report = await deps.readiness.check();
    const body: z.infer<typeof readinessBody> = { status: report.status, instanceId: deps.instanceId, checks: report.checks };
    res.status(report.ready ? 200 : 503).json(body);
  });

  router.get('/api/status', (_req, res) => {
    const body: z.infer<typeof statusBody> = {
      message: `${packageInfo.name} is running`,
      version: packageInfo.version,
      environment: deps.environment,
      worker: process.pid,
    };
    res.json(body);
  });
  return { router, contract: healthContract };
}
