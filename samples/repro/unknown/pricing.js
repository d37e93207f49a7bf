// pricing-service: one pod of a plain Node.js 20 HTTP service behind nginx (issue 13, "unknown").
// It quotes prices in a currency using a rate table read from RATES_DIR/<rates_source>.json, which a
// refresh job reloads every REFRESH_MS. SIGHUP re-reads CONFIG_FILE (what a config watcher sidecar does
// when the ConfigMap changes); the new rates_source takes effect at the next refresh. Logs pino-style JSON.
const http = require('http');
const fs = require('fs');
const path = require('path');

const POD = process.env.HOSTNAME || 'pricing';
const HOST = process.env.POD_IP || '127.0.0.1';
const PORT = Number(process.env.PORT || 8080);
const CONFIG_FILE = process.env.CONFIG_FILE;
const RATES_DIR = process.env.RATES_DIR;
const REFRESH_MS = Number(process.env.REFRESH_MS || 60000);
const log = (level, msg, extra = {}) =>
  console.log(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: POD, msg, ...extra }));

let config = JSON.parse(fs.readFileSync(CONFIG_FILE, 'utf8'));
let rates = {};
function refreshRates() {
  const table = JSON.parse(fs.readFileSync(path.join(RATES_DIR, `${config.rates_source}.json`), 'utf8'));
  rates = table.rates;
  log(30, `rate table refreshed (source=${config.rates_source}, ${Object.keys(rates).length} entries)`);
}
log(30, `pricing-service 2.4.1 starting (node ${process.version}, pid ${process.pid})`);
log(30, `config loaded from ${CONFIG_FILE}: rates_source=${config.rates_source} refresh_interval=${REFRESH_MS / 1000}s`);
refreshRates();
setInterval(refreshRates, REFRESH_MS);

process.on('SIGHUP', () => {
  const before = config.rates_source;
  config = JSON.parse(fs.readFileSync(CONFIG_FILE, 'utf8'));
  log(30, `config reloaded from ${CONFIG_FILE}: rates_source=${config.rates_source} (was ${before}), applies at next rate refresh`);
});

const BASE = { 1001: 19.99, 1002: 4.5, 1003: 129.0, 1004: 12.75, 1005: 59.9 };
function quote(sku, currency) {
  const rate = rates[currency];
  const amount = BASE[sku] * rate.mid; // throws when the table has no entry for the currency
  return { sku, currency, amount: Math.round(amount * 100) / 100 };
}

let served = 0, failed = 0;
setInterval(() => { log(30, `served ${served} requests (${failed} failed) in the last 30s`); served = 0; failed = 0; }, 30000);

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/healthz') { res.end('ok'); return; }
  if (u.pathname !== '/v1/quote') { res.writeHead(404); res.end(); return; }
  const sku = u.searchParams.get('sku'), currency = u.searchParams.get('currency');
  setTimeout(() => {
    served++;
    try {
      const body = JSON.stringify(quote(sku, currency));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    } catch (err) {
      failed++;
      log(50, 'quote failed', { sku, currency, err: { type: err.constructor.name, message: err.message, stack: err.stack } });
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"internal"}');
    }
  }, 3 + Math.floor(Math.random() * 12));
});
server.keepAliveTimeout = 65000;
server.listen(PORT, HOST, () => log(30, `listening on http://${HOST}:${PORT}`));
process.on('SIGTERM', () => { log(30, 'SIGTERM received, shutting down'); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); });
