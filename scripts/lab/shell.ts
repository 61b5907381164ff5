import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Runs a command; its output, or an error naming the command and its stderr. */
export async function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { env: options.env, cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const failed = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${failed.message.split('\n')[0] ?? ''}\n${`${failed.stdout ?? ''}\n${failed.stderr ?? ''}`.trim().slice(-3000)}`);
  }
}

/** The same, ignoring failure: for clean-up steps that may find nothing to clean. */
export async function tryRun(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<void> {
  await run(command, args, options).catch(() => undefined);
}

/** Runs `command` inside network namespace `ns`. */
export function inNamespace(ns: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return run('ip', ['netns', 'exec', ns, command, ...args], options);
}

/** Starts a long-lived process inside `ns`, detached from this one, its output to `logFile`. */
export function spawnInNamespace(ns: string, command: string, args: string[], logFd: number, env?: NodeJS.ProcessEnv): number {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { detached: true, stdio: ['ignore', logFd, logFd], env });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command} in ${ns}`);
  return child.pid;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}
