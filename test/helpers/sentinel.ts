import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileAsync, freePort, waitFor } from './services.js';

export const SENTINEL_NAME = 'epc-test';

export interface RedisServer {
  port: number;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

export interface PrivateSentinels {
  primary: RedisServer;
  replica: RedisServer;
  /** `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`, for REDIS_SENTINELS. */
  sentinels: string;
  /** Resolves once the replica is in sync and every Sentinel knows it and the two others, so a failover can be voted at once. */
  failoverReady(): Promise<void>;
  /** The port the Sentinels now give for the primary. */
  primaryPort(): Promise<number>;
  /** Kills every server and Sentinel and removes their files. */
  destroy(): Promise<void>;
}

const cli = async (port: number, ...args: string[]) => (await execFileAsync('redis-cli', ['-p', String(port), ...args])).stdout.trim();

function server(args: string[]): { child: ChildProcess; kill(): Promise<void> } {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  return {
    child,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A Redis primary, one replica and three Sentinels of the test's own on free ports, with
 * timeouts short enough for a test (down after 1 s, failover timeout 3 s). Resolves once the
 * Sentinels answer (they give the primary at once); `failoverReady` waits until they could
 * also fail it over.
 */
export async function privateSentinels(): Promise<PrivateSentinels> {
  const dir = mkdtempSync(join(tmpdir(), 'epc-sentinel-'));
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const sentinelPorts = [await freePort(), await freePort(), await freePort()] as const;
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const primary = server(['--port', String(primaryPort), ...common]);
  const replica = server(['--port', String(replicaPort), ...common, '--replicaof', '127.0.0.1', String(primaryPort)]);
  const sentinels = sentinelPorts.map((port) => {
    // A Sentinel rewrites its configuration file, so each has its own.
    const file = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_NAME} 3000`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
        '',
      ].join('\n'),
    );
    return server([file, '--sentinel']);
  });
  const all = [primary, replica, ...sentinels];
  const destroy = async () => {
    await Promise.all(all.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('the Sentinels to answer', async () => Promise.all(sentinelPorts.map(async (port) => (await cli(port, 'ping').catch(() => '')) === 'PONG')).then((all) => all.every(Boolean)), 10_000, 100);
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    primary: { port: primaryPort, kill: () => primary.kill() },
    replica: { port: replicaPort, kill: () => replica.kill() },
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    async primaryPort() {
      const [, port] = (await cli(sentinelPorts[0], 'sentinel', 'get-master-addr-by-name', SENTINEL_NAME)).split('\n');
      return Number(port);
    },
    async failoverReady() {
      await waitFor('the replica to be in sync', async () => (await cli(replicaPort, 'info', 'replication').catch(() => '')).includes('master_link_status:up'), 20_000, 100);
      for (const port of sentinelPorts) {
        await waitFor(`Sentinel ${port} to know the replica and its two peers`, async () => {
          const replicas = await cli(port, 'sentinel', 'replicas', SENTINEL_NAME).catch(() => '');
          const peers = await cli(port, 'sentinel', 'sentinels', SENTINEL_NAME).catch(() => '');
          return replicas.includes(String(replicaPort)) && sentinelPorts.filter((p) => p !== port).every((p) => peers.includes(String(p)));
        }, 30_000, 200);
      }
    },
    destroy,
  };
}
