// A slow downstream: accepts connections and answers nothing for 10 s.
const net = require('net');
net.createServer((s) => { s.on('error', () => {}); setTimeout(() => s.destroy(), 10000); }).listen(Number(process.env.DOWNSTREAM_PORT || 18096), '127.0.0.1');
setTimeout(() => process.exit(0), Number(process.env.RUN_MS || 25000) + 5000).unref();
