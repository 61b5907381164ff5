/** Reference: Express 5 with no middleware, res.json on one route. What the framework itself costs. */
import express from 'express';

const app = express();
app.get('/health', (_req, res) => {
  res.json({ status: 'ok', timestamp: new Date().toISOString(), uptime: process.uptime(), worker: process.pid });
});
const server = app.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
server.keepAliveTimeout = 5000;
