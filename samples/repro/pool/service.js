// orders-service: a Node.js 20 `cluster` service with one `pg` Pool per worker (issue 13 repros
// `pool` and `crashloop-config`). Plain-text console lines, as many cluster services log.
//   WORKERS, PG_POOL_MAX, DATABASE_URL, SERVICE_VERSION, POD_IP, PORT, QUERY_SLEEP_S
// The primary logs its config at startup (as a real service does), asks the database for
// max_connections, forks WORKERS workers and respawns a worker that exits; 5 worker crashes within
// 30 s make the primary give up and exit 1 (the container restarts: CrashLoopBackOff).
// A worker checks its pool with `SELECT 1` at startup and exits 1 if that fails.
const cluster = require('cluster');
const http = require('http');
const { Pool, Client } = require('pg');

const VERSION = process.env.SERVICE_VERSION || '3.1.0';
const WORKERS = Number(process.env.WORKERS || 4);
const POOL_MAX = Number(process.env.PG_POOL_MAX || 10);
const DATABASE_URL = process.env.DATABASE_URL ?? '';
const HOST = process.env.POD_IP || '127.0.0.1';
const PORT = Number(process.env.PORT || 8080);
const QUERY_SLEEP_S = Number(process.env.QUERY_SLEEP_S || 0.2);
const redact = (u) => u.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:****@');

if (cluster.isPrimary) {
  console.log(`orders-service ${VERSION} starting (node ${process.version}, env production)`);
  console.log(`config: WORKERS=${WORKERS} PG_POOL_MAX=${POOL_MAX} DATABASE_URL="${redact(DATABASE_URL)}" listen=${HOST}:${PORT}`);
  console.log(`database connections at full load: ${WORKERS} workers x ${POOL_MAX} = ${WORKERS * POOL_MAX}`);
  const probe = new Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3000 });
  probe.connect()
    .then(() => probe.query("SELECT current_setting('max_connections') AS mc, current_setting('superuser_reserved_connections') AS r"))
    .then((r) => { console.log(`database max_connections=${r.rows[0].mc} (superuser_reserved_connections=${r.rows[0].r})`); return probe.end(); })
    .catch((e) => { console.error(`database check failed: ${e.message}`); probe.end().catch(() => {}); })
    .finally(start);
  function start() {
    console.log(`Primary ${process.pid} is running, forking ${WORKERS} workers`);
    const crashes = [];
    for (let i = 0; i < WORKERS; i++) cluster.fork();
    cluster.on('exit', (w, code, signal) => {
      if (shuttingDown) return;
      const now = Date.now();
      crashes.push(now);
      while (crashes.length && now - crashes[0] > 30000) crashes.shift();
      if (crashes.length >= 5) {
        console.error(`Worker ${w.process.pid} exited (code: ${code}, signal: ${signal}); ${crashes.length} crashes in 30s, giving up`);
        process.exit(1);
      }
      console.error(`Worker ${w.process.pid} exited (code: ${code}, signal: ${signal}). Respawning...`);
      cluster.fork();
    });
  }
  let shuttingDown = false;
  process.on('SIGTERM', () => {
    shuttingDown = true;
    console.log('SIGTERM received, stopping workers');
    for (const id in cluster.workers) cluster.workers[id].process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 3000).unref();
    cluster.on('exit', () => { if (Object.keys(cluster.workers).length === 0) process.exit(0); });
  });
} else {
  const pool = new Pool({ connectionString: DATABASE_URL, max: POOL_MAX, idleTimeoutMillis: 30000, connectionTimeoutMillis: 5000 });
  pool.on('error', (e) => console.error(`Worker ${process.pid}: idle client error: ${e.message}`));
  pool.query('SELECT 1').then(() => {
    const server = http.createServer(async (req, res) => {
      const t0 = Date.now();
      const m = req.url.match(/^\/v1\/orders\/(\d+)/);
      if (!m) { res.writeHead(404); res.end(); return; }
      try {
        const r = await pool.query('SELECT $1::int AS id, pg_sleep($2) IS NULL AS ok', [Number(m[1]), QUERY_SLEEP_S]);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: r.rows[0].id, status: 'shipped' }));
      } catch (e) {
        console.error(`Worker ${process.pid}: GET ${req.url} failed after ${Date.now() - t0}ms: ${e.message}${e.code ? ` (code ${e.code})` : ''} [pool total=${pool.totalCount} idle=${pool.idleCount} waiting=${pool.waitingCount}]`);
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":"database unavailable"}');
      }
    });
    server.keepAliveTimeout = 65000;
    server.listen(PORT, HOST, () => console.log(`Worker ${process.pid} started (pg pool max=${POOL_MAX}), listening on ${HOST}:${PORT}`));
    process.on('SIGTERM', () => { server.close(); pool.end().finally(() => process.exit(0)); });
  }).catch((e) => {
    console.error(`Worker ${process.pid}: cannot connect to database:`, e);
    process.exit(1);
  });
}
