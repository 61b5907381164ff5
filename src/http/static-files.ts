import express, { Router } from 'express';

/**
 * Serves folders of files as they are: the live page (public/) and the browser build of the
 * Socket.IO client. Mounted after the API routes, so a file can never shadow a route; a path
 * with no file falls through to the JSON 404.
 */
export function staticFiles(mounts: { path: string; dir: string }[]): Router {
  const router = Router();
  for (const { path, dir } of mounts) router.use(path, express.static(dir, { redirect: false }));
  return router;
}
