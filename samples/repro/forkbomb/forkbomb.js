// Fork-bomb crash loop (shared/cases/other-failure-modes.md #1): a deploy set DATABASE_URL="",
// every worker fails to create its pool at startup and exits 1; the primary re-forks at once.
// Bounded to MAX_FORKS so it cannot hurt the machine.
const cluster = require('cluster');
const os = require('os');
const net = require('net');
const MAX_FORKS = Number(process.env.MAX_FORKS || 200);
if (cluster.isPrimary) {
  console.log(`Deploy v2.4.1 rolled out (config DATABASE_URL="${process.env.DATABASE_URL || ''}")`);
  console.log(`Primary ${process.pid} is running, number of CPUs: ${os.cpus().length}`);
  let forks = 0;
  const fork = () => { if (forks++ < MAX_FORKS) cluster.fork(); };
  for (let i = 0; i < os.cpus().length; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    console.log(`Worker ${w.process.pid} exited (code: ${code}, signal: ${signal}). Respawning...`);
    fork();
    if (forks >= MAX_FORKS && Object.keys(cluster.workers).length === 0) process.exit(0);
  });
} else {
  console.log(`Worker ${process.pid} started`);
  const url = process.env.DATABASE_URL || 'postgres://127.0.0.1:1/app';
  const s = net.connect(1, '127.0.0.1');
  s.on('error', (e) => { console.error(`Failed to create DB pool (${url}): ${e.message}`); process.exit(1); });
}
