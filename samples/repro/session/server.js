// account-web: a Node.js 20 `cluster` service (issue 13, session) that keeps login sessions in an
// in-memory Map inside each worker (express-session's default MemoryStore behaves the same way).
// POST /login creates a session on the worker that served it; later requests carrying the cookie
// find it only if they land on that same worker. Plain-text log lines with the worker pid.
const cluster = require('cluster');
const http = require('http');
const crypto = require('crypto');
const HOST = process.env.POD_IP || '127.0.0.1';
const PORT = Number(process.env.PORT || 8080);
const WORKERS = Number(process.env.WORKERS || 4);

if (cluster.isPrimary) {
  console.log(`account-web 2.7.3 starting (node ${process.version}, env production)`);
  console.log(`config: workers=${WORKERS} session.store=memory session.cookie=sid session.ttl=30m`);
  console.log(`Primary ${process.pid} is running, forking ${WORKERS} workers`);
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  process.on('SIGTERM', () => { for (const id in cluster.workers) cluster.workers[id].process.kill('SIGTERM'); setTimeout(() => process.exit(0), 1500); });
} else {
  const sessions = new Map();
  const cookie = (req) => (String(req.headers.cookie || '').match(/(?:^|;\s*)sid=([0-9a-f]+)/) || [])[1];
  const server = http.createServer((req, res) => {
    const t0 = Date.now();
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const path = req.url.split('?')[0];
      const send = (code, obj, headers = {}) => { res.writeHead(code, { 'content-type': 'application/json', ...headers }); res.end(JSON.stringify(obj)); };
      if (req.method === 'POST' && path === '/login') {
        const user = new URLSearchParams(body).get('user') || 'anonymous';
        const sid = crypto.randomBytes(12).toString('hex');
        sessions.set(sid, { user, created: Date.now() });
        console.log(`info: [worker ${process.pid}] POST /login 200 user=${user} sid=${sid} ${Date.now() - t0}ms`);
        return send(200, { ok: true }, { 'set-cookie': `sid=${sid}; Path=/; HttpOnly` });
      }
      if (req.method === 'GET' && ['/account/cart', '/account/orders', '/account/profile'].includes(path)) {
        const sid = cookie(req);
        const s = sid && sessions.get(sid);
        if (!s) {
          console.log(`warn: [worker ${process.pid}] GET ${path} 401 sid=${sid || '-'}: session not found ${Date.now() - t0}ms`);
          return send(401, { error: 'session not found' });
        }
        console.log(`info: [worker ${process.pid}] GET ${path} 200 user=${s.user} sid=${sid} ${Date.now() - t0}ms`);
        return send(200, { user: s.user, items: [] });
      }
      send(404, { error: 'not found' });
    });
  });
  server.keepAliveTimeout = 65000;
  server.listen(PORT, HOST, () => console.log(`Worker ${process.pid} started`));
  process.on('SIGTERM', () => process.exit(0));
}
