/**
 * OpenTelemetry itself, imported only when tracing is on (tracing.ts). The SDK reads the
 * standard OTEL_* variables (endpoint, protocol, headers, sampler, resource attributes); here
 * it is given the instrumentations, the process's resource, and no metrics or logs exporter
 * (Prometheus scrapes /metrics; the logs go to stdout with the trace id on each line).
 */
import { register } from 'node:module';
import { context, createContextKey, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { NodeSDK, resources } from '@opentelemetry/sdk-node';
import { PrismaInstrumentation } from '@prisma/instrumentation';
import type { Request } from 'express';
import type { Config } from '../config/env.js';
import { packageInfo } from '../config/package-info.js';
import { routeLabel } from './requests.js';
import type { SpanAttributes, TracedProcess, Tracing } from './tracing.js';

const REQUEST = createContextKey('express-pm2-cluster request');

function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

export function startOpenTelemetry(config: Config, self: TracedProcess): Tracing {
  // ioredis is an ES import here: only an ESM loader hook lets its instrumentation patch it, and
  // only for imports made after this (the entries import the app afterwards). Limited to
  // ioredis, so no other module is wrapped. Prisma needs no hook: its client looks for the
  // instrumentation's global helper at each query.
  // Node 24 marks module.register deprecated for module.registerHooks, but the instrumentation's
  // hook (import-in-the-middle) is an asynchronous loader that only register() can install.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['ioredis'] } });

  const sdk = new NodeSDK({
    resource: resources.resourceFromAttributes({
      'service.name': config.tracing.serviceName ?? packageInfo.name,
      'service.version': packageInfo.version,
      'service.instance.id': `${self.host}/${self.role}/${self.instanceId}`,
      'app.role': self.role,
      'app.instance_id': self.instanceId,
      'host.name': self.host,
    }),
    // Our resource, plus OTEL_RESOURCE_ATTRIBUTES (the env detector; it wins over ours).
    resourceDetectors: [resources.envDetector],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      // requireParentSpan: a Redis command is traced inside a request, event or job only; the
      // heartbeats and the adapter's own traffic would otherwise be a root trace each.
      new IORedisInstrumentation({ requireParentSpan: true }),
      new PrismaInstrumentation(),
    ],
  });
  sdk.start();
  const tracer = trace.getTracer(packageInfo.name, packageInfo.version);

  const inSpan = async <T>(name: string, kind: SpanKind, attributes: SpanAttributes, parent: Context, run: () => Promise<T>): Promise<T> => {
    const span = tracer.startSpan(name, { kind, attributes }, parent);
    try {
      return await context.with(trace.setSpan(parent, span), run);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  };

  return {
    http: (inner) => (req, res, next) => {
      const parent = propagation.extract(ROOT_CONTEXT, req.headers);
      const span = tracer.startSpan(req.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path, 'app.instance_id': self.instanceId } }, parent);
      const active = trace.setSpan(parent, span).setValue(REQUEST, req);
      // W3C Trace Context level 2: tells the caller which trace its request became.
      res.setHeader('traceresponse', traceparentOf(span));
      // Every listener of the response (the access log's too) runs in the request's context.
      context.bind(active, res);
      res.on('close', () => {
        const route = routeLabel(req);
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode, 'app.request_id': req.id });
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      context.with(active, () => { inner(req, res, next); });
    },
    span: (name, attributes, run) => inSpan(name, SpanKind.INTERNAL, attributes, context.active(), run),
    carrier: () => {
      const span = trace.getSpan(context.active());
      return span?.isRecording() ? traceparentOf(span) : undefined;
    },
    delivered: (carrier, name, attributes, deliver) => {
      const parent = propagation.extract(ROOT_CONTEXT, { traceparent: carrier });
      const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes: { ...attributes, 'app.instance_id': self.instanceId } }, parent);
      try {
        span.setAttribute('app.sockets', context.with(trace.setSpan(parent, span), deliver));
      } finally {
        span.end();
      }
    },
    logFields: () => {
      const active = context.active();
      const span = trace.getSpan(active);
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      const req = active.getValue(REQUEST) as Request | undefined;
      return req?.id ? { trace_id: traceId, span_id: spanId, requestId: req.id } : { trace_id: traceId, span_id: spanId };
    },
    shutdown: () => sdk.shutdown(),
  };
}
