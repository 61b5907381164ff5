import { run, tryRun } from './shell.js';
import type { Topology } from './topology.js';

/** One namespace per host and one for Redis, each joined to the lab's bridge by a veth pair. */
export async function createNetwork(t: Topology): Promise<void> {
  await run('ip', ['link', 'add', t.bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${t.gateway}/24`, 'dev', t.bridge]);
  await run('ip', ['link', 'set', t.bridge, 'up']);
  for (const node of [...t.hosts, t.redis]) {
    await run('ip', ['netns', 'add', node.ns]);
    await run('ip', ['link', 'add', node.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.ns]);
    await run('ip', ['link', 'set', node.veth, 'master', t.bridge, 'up']);
    await run('ip', ['netns', 'exec', node.ns, 'ip', 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
    await run('ip', ['netns', 'exec', node.ns, 'ip', 'link', 'set', 'eth0', 'up']);
    await run('ip', ['netns', 'exec', node.ns, 'ip', 'link', 'set', 'lo', 'up']);
  }
}

/** Cuts a host off the network (its veth down), or brings it back. */
export async function setHostLink(t: Topology, hostId: string, up: boolean): Promise<void> {
  const host = t.hosts.find((h) => h.id === hostId);
  if (!host) throw new Error(`no host ${hostId}`);
  await run('ip', ['link', 'set', host.veth, up ? 'up' : 'down']);
}

/** Cuts one host off Redis only (a blackhole route to the Redis namespace), or brings it back. */
export async function setHostRedisRoute(t: Topology, hostId: string, reachable: boolean): Promise<void> {
  const host = t.hosts.find((h) => h.id === hostId);
  if (!host) throw new Error(`no host ${hostId}`);
  if (reachable) await tryRun('ip', ['netns', 'exec', host.ns, 'ip', 'route', 'del', 'blackhole', `${t.redis.address}/32`]);
  else await run('ip', ['netns', 'exec', host.ns, 'ip', 'route', 'add', 'blackhole', `${t.redis.address}/32`]);
}

/** Kills every process left in the lab's namespaces, then deletes them and the bridge. */
export async function removeNetwork(t: Topology): Promise<void> {
  for (const node of [...t.hosts, t.redis]) {
    const pids = await run('ip', ['netns', 'pids', node.ns]).catch(() => '');
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await tryRun('ip', ['netns', 'delete', node.ns]);
    await tryRun('ip', ['link', 'delete', node.veth]);
  }
  await tryRun('ip', ['link', 'delete', t.bridge]);
}
