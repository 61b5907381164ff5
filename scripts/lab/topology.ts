import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where everything of one lab lives: its namespaces' names, its addresses, its ports and its
 * folder. Every address is one the lab itself creates, on a bridge of its own in a private
 * /24 (10.231.N.0); nothing else is ever a target. Derived from (name, subnet) alone, so
 * `down` finds what a failed or interrupted `up` left behind.
 */
export interface Topology {
  name: string;
  dir: string;
  bridge: string;
  gateway: string;
  hosts: { id: string; ns: string; veth: string; address: string }[];
  redis: { ns: string; veth: string; address: string; primaryPort: number; replicaPort: number; sentinelPorts: number[]; masterName: string };
  pgbouncerPort: number;
  database: string;
  lbPort: number;
  lbStatsPort: number;
  appPort: number;
}

export interface LabOptions {
  /** Prefix of every namespace and interface (at most 7 characters: interface names stop at 15). */
  name?: string;
  /** N of 10.231.N.0/24. */
  subnet?: number;
  hostCount?: number;
  lbPort?: number;
  lbStatsPort?: number;
}

export function topology(options: LabOptions = {}): Topology {
  const name = options.name ?? 'epclab';
  if (!/^[a-z][a-z0-9]{0,6}$/.test(name)) throw new Error(`lab name must be 1-7 lower-case letters or digits, starting with a letter; got "${name}"`);
  const subnet = options.subnet ?? 231;
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) throw new Error(`subnet must be 0-255; got ${subnet}`);
  const base = `10.231.${subnet}`;
  const hostCount = options.hostCount ?? 3;
  return {
    name,
    dir: join(tmpdir(), `${name}-lab`),
    bridge: `${name}-br`,
    gateway: `${base}.1`,
    hosts: Array.from({ length: hostCount }, (_, i) => ({ id: `h${i + 1}`, ns: `${name}-h${i + 1}`, veth: `${name}-h${i + 1}v`, address: `${base}.${11 + i}` })),
    redis: { ns: `${name}-redis`, veth: `${name}-rv`, address: `${base}.20`, primaryPort: 6379, replicaPort: 6380, sentinelPorts: [26379, 26380, 26381], masterName: 'epc' },
    pgbouncerPort: 6432,
    database: `${name}_lab`,
    lbPort: options.lbPort ?? 8080,
    lbStatsPort: options.lbStatsPort ?? 8404,
    appPort: 3000,
  };
}
