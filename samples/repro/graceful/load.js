'use strict';
// Traffic for service.js pods: GET /healthz and GET /orders?qty=N round-robin over the ports in
// PORTS (comma-separated), one request every INTERVAL_MS. A port listed in STOP_FILE (one port
// per line, re-read each tick) gets no new requests: the endpoint was removed from the Service.
// BAD_PORT/BAD_EVERY_MS: send one order with qty=-1 to BAD_PORT every BAD_EVERY_MS (the client
// bug that trips the crash capture). Prints one line per answer to stdout (not part of the
// bundles; the builder counts from it).
const http = require('node:http');
const fs = require('node:fs');
const PORTS = (process.env.PORTS || '18101').split(',').map(Number);
const INTERVAL_MS = Number(process.env.INTERVAL_MS || 40);
const STOP_FILE = process.env.STOP_FILE || '';
const BAD_PORT = Number(process.env.BAD_PORT || 0);
const BAD_EVERY_MS = Number(process.env.BAD_EVERY_MS || 0);
const BAD_START_MS = Number(process.env.BAD_START_MS || 3000);
let i = 0;
const get = (port, path) => {
  const t0 = Date.now();
  const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
    res.resume();
    res.on('end', () => console.log(`${port} ${path} ${res.statusCode} ${Date.now() - t0}ms`));
  });
  req.on('error', (e) => console.log(`${port} ${path} ERR ${e.code || e.message}`));
};
const stopped = () => {
  if (!STOP_FILE) return new Set();
  try { return new Set(fs.readFileSync(STOP_FILE, 'utf8').split(/\s+/).filter(Boolean).map(Number)); } catch (e) { return new Set(); }
};
setInterval(() => {
  const off = stopped();
  const live = PORTS.filter((p) => !off.has(p));
  if (!live.length) return;
  const port = live[i++ % live.length];
  get(port, i % 5 === 0 ? '/healthz' : `/orders?qty=${1 + (i % 4)}`);
}, INTERVAL_MS);
if (BAD_PORT && BAD_EVERY_MS) setTimeout(() => setInterval(() => get(BAD_PORT, '/orders?qty=-1'), BAD_EVERY_MS), BAD_START_MS);
