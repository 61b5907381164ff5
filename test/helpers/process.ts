import { spawn, type ChildProcess } from 'node:child_process';
import type { LogLine } from './api.js';
import { execFileAsync, ROOT } from './services.js';

export interface LoggedProcess {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** The exit code, or a rejection (and SIGKILL) if it still runs after `timeoutMs`. */
  exitWithin(timeoutMs: number): Promise<number | null>;
  /** Everything it wrote to stdout and stderr, in order. */
  output(): string;
  /** Its complete stdout lines parsed as JSON; a line that is not JSON throws. */
  logs(): LogLine[];
}

/**
 * Runs a command as a deployment would (its own environment only, plus PATH), keeping its
 * output. `detached`: its own process group, so `kill(-pid)` also reaches what it started.
 */
export function spawnLogged(command: string, args: string[], options: { cwd: string; env: Record<string, string>; detached?: boolean }): LoggedProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let output = '';
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  return {
    child,
    exited,
    async exitWithin(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`${command} ${args.join(' ')} still ran after ${timeoutMs} ms:\n${output.slice(-3000)}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
    output: () => output,
    logs: () =>
      stdout
        .slice(0, stdout.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          try {
            return JSON.parse(line) as LogLine;
          } catch {
            throw new Error(`Not a JSON line: ${line}`);
          }
        }),
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command from the project's folder to its end (3 minutes at most): its exit code and output, never a throw. */
export async function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { cwd: ROOT, env, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}
