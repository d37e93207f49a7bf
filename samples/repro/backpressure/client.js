// Load for server.js: keeps up to CONNS requests in flight, each with a small body, for RUN_MS.
const http = require('http');
const PORT = Number(process.env.PORT || 18095);
const CONNS = Number(process.env.CONNS || 400);
const RUN_MS = Number(process.env.RUN_MS || 25000);
const agent = new http.Agent({ keepAlive: false, maxSockets: CONNS });
let inflight = 0, stop = false;
function fire() {
  if (stop || inflight >= CONNS) return;
  inflight++;
  const req = http.request({ host: '127.0.0.1', port: PORT, method: 'POST', path: '/events', agent, timeout: 20000 }, (res) => {
    res.resume(); res.on('end', () => { inflight--; });
  });
  req.on('error', () => { inflight--; });
  req.on('timeout', () => req.destroy());
  req.end('{"event":"click"}');
}
const t = setInterval(() => { for (let i = 0; i < 20; i++) fire(); }, 20);
setTimeout(() => { stop = true; clearInterval(t); process.exit(0); }, RUN_MS);
