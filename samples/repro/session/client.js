// Users of account-web through nginx: USERS users start over the first half of RUN_S seconds; each
// logs in, then makes STEPS page requests 300-900 ms apart with its cookie; on a 401 it logs in again
// (the browser is sent back to the login page). Prints one summary line.
const http = require('http');
const { PORT, HOST_HEADER } = process.env;
const USERS = Number(process.env.USERS || 40), STEPS = Number(process.env.STEPS || 6), RUN_S = Number(process.env.RUN_S || 60);
const pages = ['/account/cart', '/account/orders', '/account/profile'];
const names = ['anna', 'ben', 'chloe', 'david', 'emma', 'felix', 'greta', 'hugo', 'ida', 'jonas', 'klara', 'leon', 'mia', 'noah', 'olga', 'paul'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stats = { login: 0, ok: 0, unauthorized: 0 };
function request(method, path, { body, cookie } = {}) {
  return new Promise((resolve) => {
    const headers = { host: HOST_HEADER, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' };
    if (cookie) headers.cookie = cookie;
    if (body) { headers['content-type'] = 'application/x-www-form-urlencoded'; headers['content-length'] = Buffer.byteLength(body); }
    const req = http.request({ host: '127.0.0.1', port: Number(PORT), method, path, headers }, (res) => {
      res.resume(); res.on('end', () => resolve(res));
    });
    req.on('error', () => resolve({ statusCode: 0, headers: {} }));
    if (body) req.write(body);
    req.end();
  });
}
async function user(i) {
  const name = `${names[i % names.length]}${Math.floor(i / names.length) || ''}`;
  let cookie;
  const login = async () => {
    stats.login++;
    const r = await request('POST', '/login', { body: `user=${name}` });
    cookie = String((r.headers['set-cookie'] || [''])[0]).split(';')[0];
  };
  await login();
  for (let s = 0; s < STEPS; s++) {
    await sleep(300 + Math.random() * 600);
    const r = await request('GET', pages[s % pages.length], { cookie });
    if (r.statusCode === 401) { stats.unauthorized++; await sleep(500); await login(); } else stats.ok++;
  }
}
(async () => {
  const all = [];
  for (let i = 0; i < USERS; i++) { all.push(user(i)); await sleep((RUN_S * 500) / USERS); }
  await Promise.all(all);
  console.log(`client: ${JSON.stringify(stats)}`);
})();
