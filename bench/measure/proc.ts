/** What the kernel says about a process: CPU time and resident memory, from /proc (Linux only). */
import { readFileSync } from 'node:fs';
import os from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime in microseconds. */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
}

/** A `<name>: <n> kB` line of a /proc file, in MiB to one decimal; 0 when the line is missing. */
function procKbAsMb(file: string, field: RegExp): number {
  const match = field.exec(readFileSync(file, 'utf8'));
  return match ? Math.round(Number(match[1]) / 102.4) / 10 : 0;
}

/** Resident set size in MB (VmRSS of /proc/<pid>/status). */
export function rssMb(pid: number): number {
  return procKbAsMb(`/proc/${pid}/status`, /VmRSS:\s+(\d+) kB/);
}

/**
 * Proportional set size in MB (smaps_rollup): RSS with each shared page divided among the
 * processes that map it. RSS counts the `node` binary's ≈ 44 MB of code in every process; PSS
 * shows what one more instance really adds.
 */
export function pssMb(pid: number): number {
  return procKbAsMb(`/proc/${pid}/smaps_rollup`, /^Pss:\s+(\d+) kB/m);
}

/** The 1-minute load average: how busy the shared machine was around a measurement. */
export const load1 = () => Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
