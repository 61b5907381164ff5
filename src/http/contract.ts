import type { Router } from 'express';
import type { z } from 'zod';

/**
 * What a route promises, written once beside it in its feature and made of the same zod
 * schemas its handler validates with and types its answer by. http/openapi.ts turns the
 * contracts of the mounted routers into /openapi.json; test/api-contract.test.ts checks the
 * document against the app's real routes and answers.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseContract {
  description: string;
  schema: z.ZodType;
  /** `application/json` unless said otherwise. */
  contentType?: string;
  /** Response headers worth documenting: name → description. */
  headers?: Record<string, string>;
}

export interface RouteContract {
  method: HttpMethod;
  /** Express path(s), as given to the router: `/api/rooms/:room/messages`. */
  path: string | readonly string[];
  /** Groups routes in the document (an OpenAPI tag): the feature's name. */
  tag: string;
  summary: string;
  description?: string;
  /** A bearer JWT is required (auth/require-auth.ts). */
  auth?: boolean;
  request?: {
    params?: z.ZodObject;
    query?: z.ZodObject;
    body?: z.ZodType;
  };
  /** The answers with a body of their own, by status. */
  responses: Record<number, ResponseContract>;
  /** Errors worth naming for this route (status → when); each has the common error body. */
  errors?: Record<number, string>;
}

/** The contracts a router fulfils, handed to the app together so the document lists exactly what is mounted. */
export interface RoutesWithContract {
  router: Router;
  contract: readonly RouteContract[];
}
