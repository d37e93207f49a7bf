// The reports service of samples/repro/eventloop/server.js with three knobs, for the decoy and
// renamed bundles: VERSION and CHANGE (what its deploy line says) and BOOT_WORK_MS, synchronous
// work right after listen (a cache warm-up on boot) that blocks the event loop once, before any
// traffic arrives. With BOOT_WORK_MS=0 and no /reports/quarterly traffic it is a healthy pod.
// Same pino-style lines, same lag monitor, same routes as the eventloop server.
const http = require('http');

const PORT = Number(process.env.PORT || 18091);
const COMPILE_MS = Number(process.env.COMPILE_MS || 1500);
const BOOT_WORK_MS = Number(process.env.BOOT_WORK_MS || 0);
const VERSION = process.env.VERSION || 'v3.1.9';
const CHANGE = process.env.CHANGE || 'cache warm-up on boot';
const log = (level, msg, extra = {}) =>
  console.log(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: process.env.HOSTNAME || 'reports', msg, ...extra }));

function busy(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  return x;
}

let last = Date.now();
setInterval(() => {
  const now = Date.now();
  const lag = now - last - 100;
  last = now;
  if (lag >= 100) log(lag >= 1000 ? 40 : 30, `Event loop lag: ${lag} ms`);
}, 100).unref();

const server = http.createServer((req, res) => {
  const t0 = Date.now();
  const done = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
    log(status >= 500 ? 50 : 30, 'request completed', { req: { method: req.method, url: req.url }, res: { statusCode: status }, responseTime: Date.now() - t0 });
  };
  if (req.url.startsWith('/reports/quarterly')) { busy(COMPILE_MS); return done(200, '{"report":"ok"}'); }
  if (req.url === '/health') return done(200, '{"ok":true}');
  if (req.url.startsWith('/campaigns')) return setTimeout(() => done(200, '[]'), 15);
  done(404, '{}');
});
server.listen(PORT, '127.0.0.1', () => {
  log(30, `Deploying reports-service ${VERSION} (${CHANGE})`);
  log(30, `listening on ${PORT}`);
  if (BOOT_WORK_MS > 0) {
    // give the lag monitor a few normal ticks first, then warm the cache synchronously
    setTimeout(() => { busy(BOOT_WORK_MS); log(30, `template cache warmed (${BOOT_WORK_MS} ms)`); }, 300);
  }
});
setTimeout(() => process.exit(0), Number(process.env.RUN_MS || 20000)).unref();
