import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config/env.js';
import { batchedStdout, stdoutIsIntercepted, toStdout } from './batched-stdout.js';
import { rotatingWrite, type LogRotationOptions } from './log-rotation.js';

export type { Logger } from 'pino';

interface LoggerOptions {
  level: string;
  /** Colourised, human output. Chosen by whether stdout is a terminal, not by NODE_ENV alone. */
  pretty: boolean;
  /** Fields every line carries besides pid, e.g. instanceId. */
  base: Record<string, unknown>;
  /** Where JSON lines go; stdout by default (tests pass a stream to read them back). */
  destination?: DestinationStream | undefined;
  /** Rotate the PM2 log file this process writes itself (see log-rotation.ts). */
  rotation?: LogRotationOptions | undefined;
  /** Fields of the active request or event, added to each line (tracing's trace and request ids). */
  mixin?: (() => Record<string, unknown>) | undefined;
}

/**
 * pino's error serializer, except for client errors (a `status` below 500, as AppError and
 * http-errors carry): those are logged by type, code and message, without our stack frames, so
 * a client sending bad requests cannot make each of its lines a kilobyte of them.
 */
function serializeError(error: unknown): unknown {
  const status = (error as { status?: unknown } | null | undefined)?.status;
  if (error instanceof Error && typeof status === 'number' && status < 500) {
    const { code } = error as { code?: unknown };
    return { type: error.name, message: error.message, ...(code === undefined ? {} : { code }) };
  }
  return pino.stdSerializers.err(error as Error);
}

function shouldPrettyPrint(isProduction: boolean): boolean {
  return !isProduction && process.stdout.isTTY;
}

function createLogger(options: LoggerOptions): Logger {
  const base = { pid: process.pid, ...options.base };
  if (options.pretty) {
    // A synchronous stream in-process: a dev terminal needs no worker thread.
    const stream = pretty({
      colorize: true,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss',
      sync: true,
      // Role and instance on the line itself: "INFO (1234): [api #0] Server listening ...".
      ignore: 'hostname,role,instanceId',
      messageFormat: (log, messageKey) => {
        const { role, instanceId } = log as { role?: string; instanceId?: number };
        const instance = instanceId === undefined ? '' : ` #${instanceId}`;
        return `[${role ?? '?'}${instance}] ${String(log[messageKey])}`;
      },
    });
    return pino({ level: options.level, base, serializers: { err: serializeError }, ...(options.mixin ? { mixin: options.mixin } : {}) }, stream);
  }
  const json = { level: options.level, base, serializers: { err: serializeError }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) }, ...(options.mixin ? { mixin: options.mixin } : {}) };
  const destination = options.destination ?? (stdoutIsIntercepted() ? batchedStdout(options.rotation ? rotatingWrite(toStdout, options.rotation) : toStdout) : undefined);
  return destination ? pino(json, destination) : pino(json);
}

/**
 * The logger of one of the project's processes, tagged with its role (and instance id).
 * `ownLogFile`: the PM2 log file this process writes itself (ClusterIdentity.ownLogFile),
 * rotated at LOG_MAX_SIZE. `mixin`: fields of the active request or event (tracing's ids).
 */
export function createProcessLogger(
  config: Config,
  base: { role: 'api' | 'worker' | 'primary' | 'migrate'; instanceId?: number },
  destination?: DestinationStream,
  extra: { ownLogFile?: string | undefined; mixin?: (() => Record<string, unknown>) | undefined } = {},
): Logger {
  const rotation = extra.ownLogFile === undefined ? undefined : { file: extra.ownLogFile, maxBytes: config.log.maxBytes, retain: config.log.retain };
  return createLogger({ level: config.log.level, pretty: !destination && shouldPrettyPrint(config.isProduction), base, destination, rotation, mixin: extra.mixin });
}

/**
 * Exits once the log lines written so far have reached their destination, or after `maxWaitMs`
 * whatever happens. Under PM2 a line is appended to the log file asynchronously, so a plain
 * `process.exit` right after the last `logger.info` loses it (observability/batched-stdout.ts).
 */
export function exitAfterLogs(logger: Logger, code: number, maxWaitMs = 1000): void {
  const exit = () => process.exit(code);
  // Not unref'd: an idle event loop must not end the process with code 0 before it exits with `code`.
  setTimeout(exit, maxWaitMs);
  logger.flush(exit);
}
