// search-api: a Node.js 20 `cluster` service (issue 13, uneven). The primary deals connections to the
// workers (policy from Node's own NODE_CLUSTER_SCHED_POLICY: "rr" default on Linux, or "none"); a
// keep-alive connection then stays on its worker for all its requests. MAX_REQUESTS_PER_SOCKET sets
// Node's server.maxRequestsPerSocket (0 = unlimited, the default): after that many requests the server
// closes the connection and the client's next connection is dealt again. Each request does ~WORK_MS of
// synchronous CPU work (scoring) and is logged pino-http style with the worker's pid.
const cluster = require('cluster');
const http = require('http');
const os = require('os');
const POD = process.env.HOSTNAME || 'search';
const HOST = process.env.POD_IP || '127.0.0.1';
const PORT = Number(process.env.PORT || 8080);
const WORKERS = Number(process.env.WORKERS || 4);
const WORK_MS = Number(process.env.WORK_MS || 8);
const MAX_RPS = Number(process.env.MAX_REQUESTS_PER_SOCKET || 0);
const log = (level, msg, extra = {}) =>
  console.log(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: POD, ...extra, msg }));

if (cluster.isPrimary) {
  const pol = cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none';
  log(30, `search-api 4.2.0 starting (node ${process.version}, ${os.cpus().length} CPUs)`);
  log(30, `config: workers=${WORKERS} cluster.schedulingPolicy=${pol} (NODE_CLUSTER_SCHED_POLICY=${process.env.NODE_CLUSTER_SCHED_POLICY || 'unset'}) keepAliveTimeout=65s maxRequestsPerSocket=${MAX_RPS || 'unlimited'}`);
  log(30, `Primary ${process.pid} is running, forking ${WORKERS} workers`);
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on('exit', (w, code, signal) => log(40, `Worker ${w.process.pid} exited (code: ${code}, signal: ${signal})`));
  process.on('SIGTERM', () => { for (const id in cluster.workers) cluster.workers[id].process.kill('SIGTERM'); setTimeout(() => process.exit(0), 1500); });
} else {
  let conns = 0;
  const score = (q) => { const end = process.hrtime.bigint() + BigInt(WORK_MS * 1e6); let x = q.length; while (process.hrtime.bigint() < end) x = (x * 31 + 7) % 1000003; return x; };
  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    const u = new URL(req.url, 'http://x');
    const s = score(u.searchParams.get('q') || '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ hits: s % 50 }));
    // x-request-start: "t=<epoch ms>" set by the caller when it sent the request (New Relic/Heroku style)
    const rs = Number(String(req.headers['x-request-start'] || '').replace('t=', ''));
    log(30, 'request completed', { req: { method: req.method, url: req.url, remotePort: req.socket.remotePort, headers: { 'user-agent': req.headers['user-agent'] } },
      res: { statusCode: 200 }, responseTime: Number((process.hrtime.bigint() - t0) / 1000n) / 1000,
      totalTime: rs ? Date.now() - rs : undefined });
  });
  server.on('connection', (s) => { conns++; log(20, `connection accepted from ${s.remoteAddress}:${s.remotePort} (open connections on this worker: ${conns})`); s.on('close', () => conns--); });
  server.keepAliveTimeout = 65000;
  server.maxRequestsPerSocket = MAX_RPS;
  server.listen(PORT, HOST, () => log(30, `Worker ${process.pid} started`));
  process.on('SIGTERM', () => process.exit(0));
}
