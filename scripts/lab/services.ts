import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inNamespace, run, tryRun, waitUntil } from './shell.js';
import type { Topology } from './topology.js';

const redisCli = (t: Topology, port: number, ...args: string[]) => inNamespace(t.redis.ns, 'redis-cli', ['-h', t.redis.address, '-p', String(port), ...args], { timeoutMs: 5000 });

/**
 * Redis primary and replica, and three Sentinels watching them, in the Redis namespace. Short
 * Sentinel timeouts (a primary is down after 1 s, a failover may take 3 s), so the lab's
 * failover scenario takes seconds, as a production Sentinel tuned for fast failover would.
 */
export async function startRedis(t: Topology): Promise<void> {
  const dir = join(t.dir, 'redis');
  mkdirSync(dir, { recursive: true });
  const server = (port: number, extra: string[]) =>
    inNamespace(t.redis.ns, 'redis-server', ['--port', String(port), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--dir', dir, '--pidfile', join(dir, `redis-${port}.pid`), '--logfile', join(dir, `redis-${port}.log`), ...extra]);
  await server(t.redis.primaryPort, []);
  await server(t.redis.replicaPort, ['--replicaof', t.redis.address, String(t.redis.primaryPort)]);
  await waitUntil('the replica to sync', async () => (await redisCli(t, t.redis.replicaPort, 'info', 'replication')).includes('master_link_status:up'), 15_000);
  for (const port of t.redis.sentinelPorts) {
    const config = join(dir, `sentinel-${port}.conf`);
    // Sentinel rewrites its own file as it learns the topology.
    writeFileSync(
      config,
      [
        `port ${port}`,
        'bind 0.0.0.0',
        'protected-mode no',
        'daemonize yes',
        `pidfile ${join(dir, `sentinel-${port}.pid`)}`,
        `logfile ${join(dir, `sentinel-${port}.log`)}`,
        `dir ${dir}`,
        `sentinel monitor ${t.redis.masterName} ${t.redis.address} ${t.redis.primaryPort} 2`,
        `sentinel down-after-milliseconds ${t.redis.masterName} 1000`,
        `sentinel failover-timeout ${t.redis.masterName} 3000`,
        `sentinel parallel-syncs ${t.redis.masterName} 1`,
        '',
      ].join('\n'),
    );
    await inNamespace(t.redis.ns, 'redis-server', [config, '--sentinel']);
  }
  await waitUntil('every Sentinel to see the replica and the other Sentinels', async () => {
    for (const port of t.redis.sentinelPorts) {
      const master = await redisCli(t, port, 'sentinel', 'master', t.redis.masterName);
      const fields = master.split('\n');
      const value = (name: string) => fields[fields.indexOf(name) + 1];
      if (value('num-slaves') !== '1' || value('num-other-sentinels') !== '2') return false;
    }
    return true;
  }, 30_000);
}

/** The port of the Redis the Sentinels now call primary. */
export async function currentRedisPrimary(t: Topology): Promise<number> {
  const [, port] = (await redisCli(t, t.redis.sentinelPorts[0] ?? 0, 'sentinel', 'get-master-addr-by-name', t.redis.masterName)).trim().split('\n');
  return Number(port);
}

/** Kills the Redis on `port` (the primary, in the failover scenario): a crash, no shutdown. */
export function killRedis(t: Topology, port: number): void {
  const pid = Number(readFileSync(join(t.dir, 'redis', `redis-${port}.pid`), 'utf8'));
  process.kill(pid, 'SIGKILL');
}

/**
 * PgBouncer on the lab's bridge address, in front of the machine's PostgreSQL: the hosts'
 * only way to the database, as docs/deployment.md recommends for several hosts (transaction
 * pooling; the budget counts client connections to it). The shared PostgreSQL listens on
 * loopback only, which the hosts' namespaces cannot reach, so the migrator's "PostgreSQL
 * itself" is PgBouncer in session mode (a server connection held for the client's whole
 * session: its advisory lock and DDL work as direct), with `postgres` for its CREATE DATABASE
 * check. PgBouncer refuses to run as root, so it runs as postgres.
 */
export async function startPgBouncer(t: Topology): Promise<void> {
  const dir = join(t.dir, 'pgbouncer');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  const config = join(dir, 'pgbouncer.ini');
  writeFileSync(
    config,
    [
      '[databases]',
      `${t.database} = host=127.0.0.1 port=5432 dbname=${t.database}`,
      `${t.database}_session = host=127.0.0.1 port=5432 dbname=${t.database} pool_mode=session`,
      'postgres = host=127.0.0.1 port=5432 dbname=postgres pool_mode=session',
      '',
      '[pgbouncer]',
      `listen_addr = ${t.gateway}`,
      `listen_port = ${t.pgbouncerPort}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'admin_users = postgres',
      'pool_mode = transaction',
      'max_client_conn = 500',
      'default_pool_size = 20',
      'ignore_startup_parameters = extra_float_digits,options,statement_timeout',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  chmodSync(t.dir, 0o755);
  await run('chown', ['-R', 'postgres', dir]);
  await run('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', 'pgbouncer', '-d', config]);
}

export async function stopPgBouncer(t: Topology): Promise<void> {
  await killPidFile(join(t.dir, 'pgbouncer', 'pgbouncer.pid'));
}

/**
 * HAProxy in front of the hosts, as docs/scale-out.md configures it: round-robin over the
 * hosts with no stickiness (Socket.IO runs on WebSocket only, so a connection needs no
 * affinity), each host health-checked on /ready every second, out after 2 failures (its
 * sessions shut, so its clients reconnect elsewhere) and back after 2 passes, WebSocket
 * tunnels kept an hour, and a stats page for the lab to read.
 */
export function haproxyConfig(t: Topology): string {
  return [
    'global',
    '  maxconn 4000',
    `  pidfile ${join(t.dir, 'haproxy.pid')}`,
    '',
    'defaults',
    '  mode http',
    '  option forwardfor',
    '  timeout connect 2s',
    '  timeout client 65s',
    '  timeout server 65s',
    '  timeout tunnel 1h',
    '  retries 2',
    '  option redispatch',
    '',
    'frontend api',
    `  bind 127.0.0.1:${t.lbPort}`,
    '  default_backend hosts',
    '',
    'backend hosts',
    '  balance roundrobin',
    '  option httpchk GET /ready',
    '  http-check expect status 200',
    // A host marked down takes its WebSocket tunnels with it: a host that died without a FIN
    // (power, link) would otherwise leave its clients on dead tunnels until Socket.IO's ping
    // timeout (45 s), missing every message meanwhile.
    '  default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions',
    ...t.hosts.map((h) => `  server ${h.id} ${h.address}:${t.appPort} check`),
    '',
    'listen stats',
    `  bind 127.0.0.1:${t.lbStatsPort}`,
    '  stats enable',
    '  stats uri /stats',
    '',
  ].join('\n');
}

export async function startHaproxy(t: Topology): Promise<void> {
  const config = join(t.dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(t));
  await run('haproxy', ['-c', '-q', '-f', config]);
  await run('haproxy', ['-D', '-f', config]);
}

/** Each host as HAProxy sees it: UP, DOWN, or a transition (`UP 1/2`). */
export async function haproxyServers(t: Topology): Promise<Record<string, string>> {
  const csv = await (await fetch(`http://127.0.0.1:${t.lbStatsPort}/stats;csv`)).text();
  const states: Record<string, string> = {};
  for (const line of csv.split('\n')) {
    const cells = line.split(',');
    if (cells[0] === 'hosts' && cells[1] && cells[1] !== 'BACKEND' && cells[1] !== 'FRONTEND') states[cells[1]] = cells[17] ?? '';
  }
  return states;
}

export async function stopHaproxy(t: Topology): Promise<void> {
  await killPidFile(join(t.dir, 'haproxy.pid'));
}

async function killPidFile(file: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return;
  }
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  await waitUntil(`process ${pid} to exit`, () => Promise.resolve(!alive(pid)), 5000).catch(async () => {
    await tryRun('kill', ['-9', String(pid)]);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
