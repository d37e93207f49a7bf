'use strict';
const { loadTranslations } = require('./translation');

const WORKER_MEMORY_MB = parseInt(process.env.WORKER_MEMORY_MB || '40', 10);
const BOOTSTRAP_MEMORY_MB = parseInt(process.env.BOOTSTRAP_MEMORY_MB || '24', 10);
const LAG_INTERVAL_MS = 100;
const LAG_REPORT_MS = parseInt(process.env.LAG_REPORT_MS || '10000', 10);
const LAG_WARN_MS = parseInt(process.env.LAG_WARN_MS || '250', 10);
const MEM_REPORT_MS = parseInt(process.env.MEM_REPORT_MS || '15000', 10);

console.log(`Worker ${process.pid} started`);

// Per-worker caches (templates, campaign rules, ...): real, touched memory.
const caches = [];
(function allocate() {
  const chunkMb = 4;
  let done = 0;
  const step = () => {
    if (done >= WORKER_MEMORY_MB) return;
    caches.push(Buffer.alloc(chunkMb * 1024 * 1024, done & 0xff));
    done += chunkMb;
    setImmediate(step);
  };
  step();
})();

// Event-loop lag probe: a timer that should fire every LAG_INTERVAL_MS.
let expected = Date.now() + LAG_INTERVAL_MS;
let windowMax = 0;
setInterval(() => {
  const now = Date.now();
  const lag = Math.max(0, now - expected);
  expected = now + LAG_INTERVAL_MS;
  if (lag > windowMax) windowMax = lag;
  if (lag >= LAG_WARN_MS) console.log(`Event loop lag: ${lag} ms`);
}, LAG_INTERVAL_MS);
setInterval(() => {
  console.log(`Event loop lag: ${windowMax} ms`);
  windowMax = 0;
}, LAG_REPORT_MS);

setInterval(() => {
  const m = process.memoryUsage();
  const mb = (n) => (n / 1048576).toFixed(1);
  console.log(`Memory usage: rss=${mb(m.rss)}MB heapTotal=${mb(m.heapTotal)}MB heapUsed=${mb(m.heapUsed)}MB external=${mb(m.external)}MB`);
}, MEM_REPORT_MS);

// Startup scratch space (template compilation etc.), released once translations are in.
let bootstrap = Buffer.alloc(BOOTSTRAP_MEMORY_MB * 1024 * 1024, 7);

let translations = null;
const refresh = async () => { translations = await loadTranslations(process.env.LANG_CODE || 'de'); };
refresh().then(() => {
  bootstrap = null;
  if (global.gc) global.gc();
});
const REFRESH_MS = parseInt(process.env.TRANSLATION_REFRESH_MS || '0', 10);
if (REFRESH_MS > 0) setInterval(refresh, REFRESH_MS);
