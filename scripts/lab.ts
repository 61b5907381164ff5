/**
 * npm run lab [-- up|down|status] [--name N] [--subnet N] [--port N]: several hosts on this
 * machine, in network namespaces, behind HAProxy, with Redis Sentinel and PgBouncer
 * (docs/scale-out.md). `up` prints how to reach it; `down` removes everything it made, also
 * after a failed or interrupted `up`. test/lab.test.ts drives the same code.
 */
import { parseArgs } from 'node:util';
import { attach, down, up } from './lab/lab.js';
import { haproxyServers } from './lab/services.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string' }, subnet: { type: 'string' }, port: { type: 'string' } },
});
const command = positionals[0] ?? 'up';
const options = {
  name: values.name,
  subnet: values.subnet === undefined ? undefined : Number(values.subnet),
  lbPort: values.port === undefined ? undefined : Number(values.port),
};

try {
  if (command === 'up') {
    const lab = await up(options);
    const { t } = lab;
    process.stdout.write(
      [
        `Lab "${t.name}" is up (files in ${t.dir}):`,
        `  load balancer   ${lab.url}   (HAProxy; stats at http://127.0.0.1:${t.lbStatsPort}/stats)`,
        ...t.hosts.map((h) => `  host ${h.id}         ${h.address}:${t.appPort}   namespace ${h.ns}: ip netns exec ${h.ns} env PM2_HOME=${t.dir}/${h.id}/pm2 npx pm2 ls`),
        `  Redis           ${t.redis.address}:${t.redis.primaryPort} (primary), :${t.redis.replicaPort} (replica), Sentinels :${t.redis.sentinelPorts.join(', :')}, namespace ${t.redis.ns}`,
        `  PgBouncer       ${t.gateway}:${t.pgbouncerPort} -> PostgreSQL 127.0.0.1:5432/${t.database}`,
        `Try: curl ${lab.url}/api/cluster-info ; JWT_SECRET=${lab.jwtSecret} npm run --silent token -- alice`,
        'Remove it all: npm run lab -- down',
        '',
      ].join('\n'),
    );
  } else if (command === 'down') {
    await down(options);
    process.stdout.write('Lab removed.\n');
  } else if (command === 'status') {
    const lab = attach(options);
    process.stdout.write(`${JSON.stringify({ url: lab.url, haproxy: await haproxyServers(lab.t) }, null, 2)}\n`);
  } else {
    throw new Error(`unknown command "${command}": up, down or status`);
  }
} catch (error) {
  process.stderr.write(`lab ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
