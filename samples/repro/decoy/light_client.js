// The load balancer's view of a pod with ordinary traffic only: samples/repro/eventloop/client.js
// without the quarterly report (health checks every 200 ms, campaign reads every 100 ms, 1 s
// upstream timeout), same log phrasing.
const http = require('http');
const PORT = Number(process.env.PORT || 18091);
const RUN_MS = Number(process.env.RUN_MS || 20000) - 1500;
const log = (msg) => console.log(msg);
function get(path, timeoutMs) {
  const t0 = Date.now();
  const req = http.get({ host: '127.0.0.1', port: PORT, path, timeout: timeoutMs }, (res) => {
    res.resume();
    res.on('end', () => log(`GET ${path} ${res.statusCode} ${Date.now() - t0}ms`));
  });
  req.on('timeout', () => { log(`upstream timed out (110: Connection timed out) while reading response header from upstream, request: "GET ${path} HTTP/1.1" 504 ${Date.now() - t0}ms`); req.destroy(); });
  req.on('error', () => {});
}
const timers = [
  setInterval(() => get('/health', 1000), 200),
  setInterval(() => get('/campaigns?page=1', 1000), 100),
];
setTimeout(() => { timers.forEach(clearInterval); setTimeout(() => process.exit(0), 1200); }, RUN_MS);
