// @ts-check
/**
 * The instance table's data. `rowsFromClusterInfo` is the one place that knows the shape of
 * GET /api/cluster-info's `members`: every live API instance and worker sharing the database,
 * on every host, from the heartbeats they keep in Redis (src/cluster/membership.ts).
 */

/**
 * One row of the table.
 * @typedef {{
 *   key: string, role: string, instanceId: number, host: string, pid: number | undefined,
 *   uptimeSeconds: number | undefined, rssBytes: number | undefined, requestsPerSecond: number | undefined,
 *   sockets: number | undefined, poolInUse: number | undefined,
 * }} InstanceRow
 */

/**
 * A member as GET /api/cluster-info lists it (src/cluster/membership-store.ts, MemberInfo).
 * @typedef {{
 *   id: string, host: string, role: string, instanceId: number, pid: number, uptime: number,
 *   memory: { rss: number }, requestsPerSecond: number, sockets: number, pool: { inUse: number },
 * }} Member
 */

/**
 * GET /api/cluster-info's answer -> the table's rows, by host, role, instance.
 * @param {{ members?: Member[] }} info
 * @returns {InstanceRow[]}
 */
export function rowsFromClusterInfo(info) {
  return (info.members ?? [])
    .map((m) => ({
      key: m.id,
      role: m.role,
      instanceId: m.instanceId,
      host: m.host,
      pid: m.pid,
      uptimeSeconds: m.uptime,
      rssBytes: m.memory.rss,
      requestsPerSecond: m.requestsPerSecond,
      sockets: m.sockets,
      poolInUse: m.pool.inUse,
    }))
    .sort((a, b) => a.host.localeCompare(b.host) || a.role.localeCompare(b.role) || a.instanceId - b.instanceId);
}
