// Open-loop load generator for the issue-13 repros: PHASES="30:20,60:120" = 30 s at 20 req/s, then
// 60 s at 120 req/s. Each request is GET <PATH_TEMPLATE> with {n} replaced by a random id, sent to
// 127.0.0.1:<PORT> with Host: <HOST_HEADER> over a keep-alive agent. Prints one summary line at the end.
const http = require('http');
const PORT = Number(process.env.PORT);
const HOST_HEADER = process.env.HOST_HEADER || 'localhost';
const PATH_TEMPLATE = process.env.PATH_TEMPLATE || '/';
const MAX_ID = Number(process.env.MAX_ID || 5000);
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 10000);
const phases = (process.env.PHASES || '10:10').split(',').map((p) => p.split(':').map(Number));
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(process.env.MAX_SOCKETS || 256) });
const counts = {};
let sent = 0;
function fire() {
  sent++;
  const path = PATH_TEMPLATE.replaceAll('{n}', () => String(1 + Math.floor(Math.random() * MAX_ID)));
  const req = http.get({ host: process.env.TARGET_HOST || '127.0.0.1', port: PORT, path, agent, timeout: TIMEOUT_MS,
    headers: { host: HOST_HEADER, 'user-agent': process.env.USER_AGENT || 'k6/0.47.0 (https://k6.io/)' } }, (res) => {
    res.resume();
    res.on('end', () => { counts[res.statusCode] = (counts[res.statusCode] || 0) + 1; });
  });
  req.on('timeout', () => req.destroy());
  req.on('error', () => { counts.error = (counts.error || 0) + 1; });
}
(async () => {
  for (const [secs, rate] of phases) {
    const t = setInterval(fire, 1000 / rate);
    await new Promise((r) => setTimeout(r, secs * 1000));
    clearInterval(t);
  }
  setTimeout(() => { console.log(`loadgen: sent ${sent} ${JSON.stringify(counts)}`); process.exit(0); }, 5000);
})();
