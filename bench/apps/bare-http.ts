/** Reference: node:http alone, answering the same JSON a health probe gets. The floor of any Node server. */
import { createServer } from 'node:http';

const server = createServer((_req, res) => {
  const body = JSON.stringify({ status: 'ok', timestamp: new Date().toISOString(), uptime: process.uptime(), worker: process.pid });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
