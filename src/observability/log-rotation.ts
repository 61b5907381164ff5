import { copyFileSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import type { Write } from './batched-stdout.js';

export interface LogRotationOptions {
  /** The log file this process appends to, and alone (PM2's out file of a cluster-mode instance). */
  file: string;
  maxBytes: number;
  /** Rotated files kept: `file.1` (the newest) to `file.<retain>`. */
  retain: number;
}

/**
 * Size-based rotation of this process's own PM2 log file, without losing a line. PM2 opens the
 * file in append mode inside the instance and offers only `pm2 reloadLogs` to reopen it, which
 * drops the writes queued at that moment and those of the moment it takes to reopen; copying
 * the file and truncating it from outside (pm2-logrotate, logrotate's copytruncate) loses
 * what is appended between the copy and the truncation. Here the writer rotates: once every
 * chunk it gave PM2 is in the file and the file has reached `maxBytes`, it shifts `file.1..N`,
 * copies the file to `file.1` and truncates it, synchronously, so no line of its own can be
 * appended in between; appends then go on at the start of the emptied file (append mode).
 *
 * Wraps the write that batchedStdout calls once per event-loop turn, so the cost is a byte
 * count per batch and, once per `maxBytes`, a copy of the file.
 */
export function rotatingWrite(write: Write, options: LogRotationOptions): Write {
  const { file, maxBytes, retain } = options;
  let size = sizeOf(file);
  let inFlight = 0;

  const rotateIfFull = () => {
    // The count can be off (another writer's line, a file emptied by `pm2 flush`): ask the file.
    size = sizeOf(file);
    if (size < maxBytes) return;
    try {
      rmSync(`${file}.${retain}`, { force: true });
      for (let n = retain - 1; n >= 1; n -= 1) {
        try {
          renameSync(`${file}.${n}`, `${file}.${n + 1}`);
        } catch {
          // not there yet
        }
      }
      copyFileSync(file, `${file}.1`);
      truncateSync(file, 0);
      size = 0;
    } catch {
      // A full disk or a removed directory: keep logging to the file as it is, try again later.
    }
  };

  return (chunk, written) => {
    inFlight += 1;
    size += Buffer.byteLength(chunk);
    write(chunk, () => {
      inFlight -= 1;
      if (inFlight === 0 && size >= maxBytes) rotateIfFull();
      written?.();
    });
  };
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
