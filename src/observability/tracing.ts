import type { RequestHandler } from 'express';
import type { Config } from '../config/env.js';

/** Attributes a span may carry. */
export type SpanAttributes = Record<string, string | number | boolean>;

/**
 * What the app asks of tracing. Only exists when tracing is on (config.tracing.enabled): with
 * it off nothing here is loaded and every caller takes its untraced path, so tracing costs
 * nothing when off (docs/benchmarks.md).
 */
export interface Tracing {
  /** Wraps the first HTTP middleware: a server span named by the matched route, the caller's `traceparent` honoured, `traceresponse` returned. */
  http(inner: RequestHandler): RequestHandler;
  /** Runs `run` in a span (a child of the active one, or a root): its Prisma and Redis calls and log lines belong to it. */
  span<T>(name: string, attributes: SpanAttributes, run: () => Promise<T>): Promise<T>;
  /** The active context as a `traceparent`, to carry in a packet published to other instances; undefined outside a sampled span. */
  carrier(): string | undefined;
  /** Runs `deliver` (which returns how many sockets it reached) in a span that continues the trace `carrier` came from. */
  delivered(carrier: string, name: string, attributes: SpanAttributes, deliver: () => number): void;
  /** Fields of the active request or event for every log line (pino's mixin): trace_id, span_id, requestId. */
  logFields: () => Record<string, unknown>;
  /** Exports the spans still queued and stops; the shutdown gives it what is left of its budget. */
  shutdown(): Promise<void>;
}

/** Which process this is, for the spans' resource. */
export interface TracedProcess {
  role: 'api' | 'worker';
  instanceId: number;
  host: string;
}

/**
 * Starts OpenTelemetry when the OTEL_* variables ask for it, before the app's own modules are
 * imported (its Redis instrumentation patches ioredis as it loads): the entries import the app
 * after this. The SDK is imported only then. A tracing that cannot start is reported and the
 * process serves without it: traces are not worth an outage.
 */
export async function startTracing(config: Config, self: TracedProcess): Promise<Tracing | undefined> {
  if (!config.tracing.enabled) return undefined;
  try {
    const { startOpenTelemetry } = await import('./tracing-sdk.js');
    return startOpenTelemetry(config, self);
  } catch (error) {
    process.stderr.write(`OpenTelemetry tracing could not start; serving without it: ${error instanceof Error ? error.message : String(error)}\n`);
    return undefined;
  }
}
