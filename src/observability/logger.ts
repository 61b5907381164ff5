import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config/env.js';
import { batchedStdout, stdoutIsIntercepted } from './batched-stdout.js';

export type { Logger } from 'pino';

interface LoggerOptions {
  level: string;
  /** Colourised, human output. Chosen by whether stdout is a terminal, not by NODE_ENV alone. */
  pretty: boolean;
  /** Fields every line carries besides pid, e.g. instanceId. */
  base: Record<string, unknown>;
  /** Where JSON lines go; stdout by default (tests pass a stream to read them back). */
  destination?: DestinationStream | undefined;
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
    return pino({ level: options.level, base }, stream);
  }
  const json = { level: options.level, base, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } };
  const destination = options.destination ?? (stdoutIsIntercepted() ? batchedStdout() : undefined);
  return destination ? pino(json, destination) : pino(json);
}

/** The logger of one of the project's processes, tagged with its role (and instance id). */
export function createProcessLogger(config: Config, base: { role: 'api' | 'worker' | 'primary' | 'migrate'; instanceId?: number }, destination?: DestinationStream): Logger {
  return createLogger({ level: config.log.level, pretty: !destination && shouldPrettyPrint(config.isProduction), base, destination });
}
