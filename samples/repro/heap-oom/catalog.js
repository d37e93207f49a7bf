// catalog-api: a plain Node.js 20 HTTP service (issue 13, heap-oom) that renders a product page
// (~64 KB of JSON) and keeps every rendered page in an in-process Map keyed by the request URL.
// CACHE_MAX=0 means unbounded (the bug); CACHE_MAX=n evicts the oldest entry beyond n (the fix).
// Logs plain lines; a memory line every MEM_EVERY_MS.
const http = require('http');
const POD = process.env.HOSTNAME || 'catalog';
const HOST = process.env.POD_IP || '127.0.0.1';
const PORT = Number(process.env.PORT || 8080);
const CACHE_MAX = Number(process.env.CACHE_MAX || 0);
const MEM_EVERY_MS = Number(process.env.MEM_EVERY_MS || 2000);
const mb = (n) => (n / 1048576).toFixed(1);
const cache = new Map();
let served = 0, hits = 0;

console.log(`catalog-api 1.14.0 starting on ${POD} (node ${process.version}, pid ${process.pid})`);
console.log(`config: page_cache=${CACHE_MAX ? `max ${CACHE_MAX} entries` : 'unbounded'} heap_limit=${mb(require('v8').getHeapStatistics().heap_size_limit)}MB`);

function render(id, url) {
  const items = [];
  for (let i = 0; i < 400; i++) items.push({ sku: `${id}-${i}`, name: `Product ${id} variant ${i}`, price: (id * 7 + i) % 997 / 10, url });
  return JSON.stringify({ id, items });
}
setInterval(() => {
  const m = process.memoryUsage();
  console.log(`Memory usage: rss=${mb(m.rss)}MB heapTotal=${mb(m.heapTotal)}MB heapUsed=${mb(m.heapUsed)}MB external=${mb(m.external)}MB cache_entries=${cache.size} served=${served} hits=${hits}`);
}, MEM_EVERY_MS);

const server = http.createServer((req, res) => {
  const m = req.url.match(/^\/v1\/products\/(\d+)/);
  if (!m) { res.writeHead(404); res.end(); return; }
  served++;
  let body = cache.get(req.url);
  if (body) hits++;
  else {
    body = render(Number(m[1]), req.url);
    cache.set(req.url, body);
    if (CACHE_MAX && cache.size > CACHE_MAX) cache.delete(cache.keys().next().value);
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(PORT, HOST, () => console.log(`listening on http://${HOST}:${PORT}`));
process.on('SIGTERM', () => { console.log('SIGTERM received, shutting down'); process.exit(0); });
