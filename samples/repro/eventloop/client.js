// Load for server.js: health checks every 200 ms, campaign reads every 100 ms with a 1 s timeout
// (a load balancer's upstream timeout), and a quarterly report every 4 s after the first 5 s.
const http = require('http');
const PORT = Number(process.env.PORT || 18090);
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
const start = Date.now();
const timers = [
  setInterval(() => get('/health', 1000), 200),
  setInterval(() => get('/campaigns?page=1', 1000), 100),
];
setTimeout(() => timers.push(setInterval(() => get('/reports/quarterly?year=2022', 10000), 4000)), 5000);
setTimeout(() => { timers.forEach(clearInterval); setTimeout(() => process.exit(0), 1200); }, RUN_MS);
