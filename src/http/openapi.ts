import { Router } from 'express';
import { z } from 'zod';
import { errorBodySchema } from '../errors/error-body.js';
import { ackSchema, type ClientEventContract } from '../realtime/socket-events.js';
import type { ServerEventContract } from '../realtime/socket-server.js';
import type { RouteContract, RoutesWithContract } from './contract.js';

/**
 * The API contract in one place: an OpenAPI 3.1 document built from the route contracts of
 * the routers this instance mounts, which are made of the zod schemas the handlers validate
 * with and answer by, converted by zod's own JSON Schema output (draft 2020-12, the dialect
 * of OpenAPI 3.1). Socket.IO events, which OpenAPI cannot describe, go beside the paths under
 * `x-socket-events`. Served at GET /openapi.json; docs/api.md explains it for people.
 */

type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };

export interface SocketEventsDescription {
  client: Record<string, ClientEventContract>;
  server: Record<string, ServerEventContract>;
}

const ERROR_REF = { $ref: '#/components/schemas/Error' };

/** Requests are described as a client sends them (before defaults and transforms), answers as they are sent. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as JsonSchema;
  return rest;
}

/** Express's `/api/rooms/:room/messages` as OpenAPI writes it: `/api/rooms/{room}/messages`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:(\w+)/g, '{$1}');
}

function parameters(object: z.ZodObject, where: 'path' | 'query'): JsonSchema[] {
  const converted = jsonSchema(object, 'input');
  const properties = (converted.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((converted.required ?? []) as string[]);
  return Object.entries(properties).map(([name, schema]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
    schema,
  }));
}

function errorResponse(description: string): JsonSchema {
  return { description, content: { 'application/json': { schema: ERROR_REF } } };
}

function operation(route: RouteContract): JsonSchema {
  const { request } = route;
  const params = [...(request?.params ? parameters(request.params, 'path') : []), ...(request?.query ? parameters(request.query, 'query') : [])];
  const responses: JsonSchema = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.headers
        ? { headers: Object.fromEntries(Object.entries(response.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) }
        : {}),
      content: { [response.contentType ?? 'application/json']: { schema: jsonSchema(response.schema, 'output') } },
    };
  }
  for (const [status, when] of Object.entries(route.errors ?? {})) responses[status] = errorResponse(when);
  responses.default = errorResponse('Any other error, in the common error body: e.g. 429 `RATE_LIMITED` (API_RATE_LIMIT), 500 `INTERNAL_ERROR`, 503 `DATABASE_*` (docs/api.md)');
  return {
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    ...(route.auth ? { security: [{ bearer: [] }] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(request?.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(request.body, 'input') } } } } : {}),
    responses,
  };
}

function socketEvents(events: SocketEventsDescription): JsonSchema {
  return {
    description:
      'Socket.IO 4 on the same port (path /socket.io/), WebSocket transport (HTTP long-polling only with SOCKET_ALLOW_POLLING=true). ' +
      'The handshake carries the JWT as `auth.token` (or an `Authorization: Bearer` header); a refused handshake is a `connect_error` whose `data.code` is `UNAUTHORIZED`, `TOO_MANY_CONNECTIONS` or `INTERNAL_ERROR`. ' +
      'A client event takes one object and an optional acknowledgement callback, answered `{ok: true, ...}` or `{ok: false, error: {code, message, details?}}` (docs/realtime.md).',
    client: Object.fromEntries(
      Object.entries(events.client).map(([name, event]) => [name, { summary: event.summary, payload: jsonSchema(event.payload, 'input'), ack: jsonSchema(ackSchema(event.result), 'output') }]),
    ),
    server: Object.fromEntries(Object.entries(events.server).map(([name, event]) => [name, { summary: event.summary, payload: jsonSchema(event.payload, 'output') }])),
  };
}

export function buildOpenApiDocument(options: { title: string; version: string; routes: readonly RouteContract[]; socketEvents: SocketEventsDescription }): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of options.routes) {
    for (const path of typeof route.path === 'string' ? [route.path] : route.path) {
      const item = (paths[openApiPath(path)] ??= {});
      if (item[route.method]) throw new Error(`Two contracts for ${route.method.toUpperCase()} ${path}`);
      item[route.method] = operation(route);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: options.title,
      version: options.version,
      description: 'The HTTP API of one instance, and its Socket.IO events under `x-socket-events`. Explained in docs/api.md and docs/realtime.md.',
    },
    tags: [...new Set(options.routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBodySchema, 'output') },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
    'x-socket-events': socketEvents(options.socketEvents),
  };
}

const openApiDocumentSchema = z.looseObject({
  openapi: z.literal('3.1.0'),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.looseObject({})),
  'x-socket-events': z.looseObject({ client: z.record(z.string(), z.unknown()), server: z.record(z.string(), z.unknown()) }),
});

export const openApiContract: RouteContract[] = [
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'contract',
    summary: 'This document: every route this instance serves, and its Socket.IO events',
    responses: { 200: { description: 'The OpenAPI 3.1 document', schema: openApiDocumentSchema } },
  },
];

/** GET /openapi.json, describing `mounted` (the routers this instance serves) and this route itself. */
export function openApiRoutes(options: { title: string; version: string; mounted: readonly RoutesWithContract[]; socketEvents: SocketEventsDescription }): RoutesWithContract {
  const document = buildOpenApiDocument({ ...options, routes: [...options.mounted.flatMap((m) => m.contract), ...openApiContract] });
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  return { router, contract: openApiContract };
}
