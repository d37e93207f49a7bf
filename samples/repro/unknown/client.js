// Load for the pricing pods through nginx: RATE requests/s of GET /v1/quote with a random sku and
// currency, over keep-alive connections, until SIGTERM. Prints nothing but a final count.
const http = require('http');
const PORT = Number(process.env.NGINX_PORT);
const RATE = Number(process.env.RATE || 12);
const CURRENCIES = (process.env.CURRENCIES || 'EUR,USD,GBP,JPY,CHF,SEK,NOK,PLN,DKK,CZK').split(',');
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
let sent = 0, done = 0;
const pick = (a) => a[Math.floor(Math.random() * a.length)];
const t = setInterval(() => {
  sent++;
  const path = `/v1/quote?sku=${1001 + Math.floor(Math.random() * 5)}&currency=${pick(CURRENCIES)}`;
  const req = http.get({ host: '127.0.0.1', port: PORT, path, agent, headers: { 'user-agent': 'checkout-web/5.12.0', host: 'pricing.shop.svc' } },
    (res) => { res.resume(); res.on('end', () => done++); });
  req.on('error', () => {});
}, 1000 / RATE);
process.on('SIGTERM', () => { clearInterval(t); setTimeout(() => { console.log(`client: sent ${sent} completed ${done}`); process.exit(0); }, 1500); });
