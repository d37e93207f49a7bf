// Event-loop block (shared/cases/other-failure-modes.md #2): a "minor template change" compiles a
// large template synchronously on every request to a new reporting endpoint. While it runs, the
// event loop is blocked and every other request, health checks included, waits behind it.
const http = require('http');

const PORT = Number(process.env.PORT || 18090);
const COMPILE_MS = Number(process.env.COMPILE_MS || 1500);
const log = (level, msg, extra = {}) =>
  console.log(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: process.env.HOSTNAME || 'reports-5d8c7b9f6-k2m4q', msg, ...extra }));

function compileTemplateSync() {
  // stands in for compiling a 2 MB template on every request: pure CPU, no awaits
  const end = Date.now() + COMPILE_MS;
  let x = 0;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  return x;
}

// event-loop lag monitor: a 100 ms timer that notices when it fires late
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
  if (req.url.startsWith('/reports/quarterly')) { compileTemplateSync(); return done(200, '{"report":"ok"}'); }
  if (req.url === '/health') return done(200, '{"ok":true}');
  if (req.url.startsWith('/campaigns')) return setTimeout(() => done(200, '[]'), 15);
  done(404, '{}');
});
server.listen(PORT, '127.0.0.1', () => {
  log(30, `Deploying reports-service v3.2.0 (template change: quarterly report layout)`);
  log(30, `listening on ${PORT}`);
});
setTimeout(() => process.exit(0), Number(process.env.RUN_MS || 20000)).unref();
