'use strict';
// Orders service: a Node.js 20 `cluster` HTTP service with a graceful shutdown, no dependencies.
//
// The primary forks WORKERS http workers plus one background "outbox" worker. While running,
// a worker that exits is logged and replaced at once. On SIGTERM (what the kubelet sends when
// a rollout deletes the pod) the primary stops replacing workers and sends SIGTERM to each:
//  * an http worker stops accepting connections, lets its in-flight requests finish, logs
//    that it drained and exits with code 0;
//  * the outbox worker has no SIGTERM handler (a common oversight), so it dies of the signal:
//    the primary sees code null, signal SIGTERM.
// When every worker is gone the primary logs it and exits 0.
//
// CRASH_ON_BAD_REQUEST=1 turns on the bug of the crash capture: an order with a negative
// quantity reaches `order.items[0].sku` on an empty array, the TypeError is not caught, the
// worker prints the stack and exits 1 (Node's default for an uncaught exception); the primary
// replaces it.
const cluster = require('node:cluster');
const http = require('node:http');

const PORT = Number(process.env.PORT || 18100);
const WORKERS = Number(process.env.WORKERS || 2);
const VERSION = process.env.VERSION || '2.7.0';
const CRASH = process.env.CRASH_ON_BAD_REQUEST === '1';
const log = (msg) => console.log(msg);

if (cluster.isPrimary) {
  let stopping = false;
  log(`orders-service ${VERSION} starting (node ${process.version})`);
  log(`Primary ${process.pid} is running, forking ${WORKERS} http workers and 1 outbox worker`);
  const forkHttp = () => cluster.fork({ ROLE: 'http' });
  for (let i = 0; i < WORKERS; i++) forkHttp();
  cluster.fork({ ROLE: 'outbox' });
  cluster.on('exit', (w, code, signal) => {
    log(`Worker ${w.process.pid} exited (code: ${code}, signal: ${signal})`);
    if (stopping) {
      if (Object.keys(cluster.workers).length === 0) {
        log('All workers exited, primary shutting down');
        process.exit(0);
      }
      return;
    }
    log('Starting a new worker');
    forkHttp();
  });
  process.on('SIGTERM', () => {
    stopping = true;
    const n = Object.keys(cluster.workers).length;
    log(`Primary ${process.pid} received SIGTERM, stopping ${n} workers gracefully`);
    for (const id in cluster.workers) cluster.workers[id].process.kill('SIGTERM');
  });
} else if (process.env.ROLE === 'outbox') {
  log(`Outbox worker ${process.pid} started`);
  setInterval(() => log(`outbox: published ${1 + Math.floor(Math.random() * 3)} order events`), 2000);
} else {
  let inFlight = 0;
  const server = http.createServer((req, res) => {
    inFlight++;
    const t0 = Date.now();
    const done = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
      res.end(body);
      inFlight--;
      log(`${req.method} ${req.url} ${status} ${Date.now() - t0}ms pid=${process.pid}`);
    };
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/healthz') return done(200, '{"ok":true}');
    if (url.pathname === '/orders') {
      const qty = Number(url.searchParams.get('qty') || 1);
      // checkout work: a downstream call of 50-400 ms
      return setTimeout(() => {
        const order = { items: qty > 0 ? [{ sku: 'A-' + qty, qty }] : [] };
        if (!CRASH && qty <= 0) return done(400, '{"error":"qty must be positive"}');
        const first = order.items[0].sku; // TypeError on an empty order when CRASH is on
        done(201, JSON.stringify({ id: Math.floor(Math.random() * 1e6), first }));
      }, 50 + Math.floor(Math.random() * 350));
    }
    done(404, '{}');
  });
  server.listen(PORT, '127.0.0.1', () => log(`Worker ${process.pid} started, listening on ${PORT}`));
  process.on('SIGTERM', () => {
    log(`Worker ${process.pid} received SIGTERM, draining ${inFlight} in-flight requests`);
    server.close(() => {
      log(`Worker ${process.pid} drained, exiting`);
      process.exit(0);
    });
    server.closeIdleConnections();
  });
}
