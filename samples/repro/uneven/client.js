// Callers of search-api over long-lived keep-alive connections, with unequal volume (as in practice):
// a catalogue batch exporter on ONE connection sending HEAVY_RATE req/s, and a web BFF on LIGHT_CONNS
// connections sending LIGHT_RATE req/s in total, for RUN_S seconds. Both open their connections at
// once at start. x-request-start lets the service log how long a request waited for its worker.
const http = require('http');
const { PORT, TARGET_HOST } = process.env;
const HEAVY_RATE = Number(process.env.HEAVY_RATE || 30), LIGHT_RATE = Number(process.env.LIGHT_RATE || 10);
const LIGHT_CONNS = Number(process.env.LIGHT_CONNS || 3), RUN_S = Number(process.env.RUN_S || 60);
const callers = [
  { ua: 'catalog-exporter/3.0 (batch)', rate: HEAVY_RATE, agent: new http.Agent({ keepAlive: true, maxSockets: 1, scheduling: 'fifo' }), conns: 1 },
  { ua: 'web-bff/7.4', rate: LIGHT_RATE, agent: new http.Agent({ keepAlive: true, maxSockets: LIGHT_CONNS, scheduling: 'fifo' }), conns: LIGHT_CONNS },
];
const words = ['shoes', 'red dress', 'laptop bag', 'usb-c cable', 'garden chair', 'coffee', 'lamp', 'socks'];
let sent = 0;
const get = (c, q) => http.get({ host: TARGET_HOST, port: Number(PORT), path: `/v1/search?q=${encodeURIComponent(q)}`, agent: c.agent,
  headers: { 'x-request-start': `t=${Date.now()}`, 'user-agent': c.ua } }, (res) => res.resume()).on('error', () => {});
const timers = [];
for (const c of callers) {
  for (let i = 0; i < c.conns; i++) get(c, 'warmup');
  timers.push(setInterval(() => { sent++; get(c, words[sent % words.length]); }, 1000 / c.rate));
}
setTimeout(() => { timers.forEach(clearInterval); setTimeout(() => { console.log(`client: sent ${sent}`); process.exit(0); }, 3000); }, RUN_S * 1000);
