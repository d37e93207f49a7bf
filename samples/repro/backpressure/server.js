// Backpressure and fd exhaustion (shared/cases/other-failure-modes.md #3): the service accepts work
// faster than it finishes it. Each request is answered 202 at once and queued; a forwarder sends
// every queued job to a slow downstream with no concurrency limit. Sockets pile up until
// `connect EMFILE` errors come in a tight loop, and the queue grows until V8 aborts at its heap
// limit (FATAL ERROR ... JavaScript heap out of memory, exit code 134).
// Run with a low fd limit (`ulimit -n 256`) and a small heap (`--max-old-space-size=64`).
const http = require('http');
const net = require('net');
const v8 = require('v8');
const PORT = Number(process.env.PORT || 18095);
const DOWNSTREAM = Number(process.env.DOWNSTREAM_PORT || 18096);
const log = (level, msg, extra = {}) =>
  console.log(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: process.env.HOSTNAME || 'ingest-api-6c9d8f7b5-t7v2n', msg, ...extra }));

const queue = [];
let inflight = 0;
setInterval(() => {
  // no backpressure: forward everything queued, however many calls are still open
  for (const job of queue.splice(0, Number(process.env.FORWARD_PER_TICK || 10))) {
    inflight++;
    const s = net.connect(DOWNSTREAM, '127.0.0.1');
    s.setTimeout(15000, () => s.destroy());
    s.on('connect', () => s.write(job.body.slice(0, 64)));
    s.on('close', () => { inflight--; });
    s.on('error', (e) => {
      log(50, `forward failed: ${e.message}`, { code: e.code });
      queue.push(job); // retry later: the queue only grows
    });
  }
}, 50);
setInterval(() => {
  const h = v8.getHeapStatistics();
  log(30, `Memory usage: heapUsed=${(h.used_heap_size / 1048576).toFixed(1)}MB queue=${queue.length} open_calls=${inflight}`);
}, 500);

http.createServer((req, res) => {
  // each job keeps its parsed payload (a few KB) until it is forwarded
  queue.push({ body: JSON.stringify(new Array(Number(process.env.JOB_ITEMS || 1500)).fill(queue.length)) });
  res.writeHead(202); res.end();
}).listen(PORT, '127.0.0.1', () => log(30, `ingest-api listening on ${PORT}`));
