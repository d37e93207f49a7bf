'use strict';
// Real Node.js JSON loggers, one per run:  node loggers.js <pino-epoch|pino-iso|pino-http|bunyan|winston>
// Each logs a few info lines, real node:cluster lines ("Worker <pid> started", "... died with
// code: 1 ..." for a forked worker that exits 1), a warn and an
// error carrying an Error object (with stack), all to stdout, exactly as the library writes it.
// Run under `unshare --uts` with the hostname set to a pod name (make_formats.sh), as in Kubernetes.
const cluster = require('cluster');
const http = require('http');

const which = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function failingLookup() {
  try {
    JSON.parse('{"sku": 42,');
  } catch (cause) {
    const err = new Error('price lookup failed for sku 42');
    err.cause = cause;
    err.code = 'EPRICE';
    return err;
  }
}

async function script(log) {
  // log(level, msg, extra?) -- extra may hold err
  // a real node:cluster worker: forked, reported online, exits with code 1
  log('info', 'Primary ' + process.pid + ' is running');
  const worker = cluster.fork();
  await new Promise((r) => worker.on('online', r));
  log('info', 'Worker ' + worker.process.pid + ' started');
  const [code, signal] = await new Promise((r) => worker.on('exit', (c, s) => r([c, s])));
  log('warn', 'Worker ' + worker.process.pid + ' died with code: ' + code + ' and signal: ' + signal);
  log('info', 'listening on port 8080');
  await sleep(5);
  log('info', 'cache warmed: 128 entries');
  await sleep(5);
  log('warn', 'slow response from pricing: 1250 ms');
  await sleep(5);
  log('error', 'request failed', { err: failingLookup() });
  await sleep(5);
  log('info', 'shutting down');
}

async function main() {
  if (cluster.isWorker) {
    setTimeout(() => process.exit(1), 20);
    return;
  }
  if (which === 'pino-epoch' || which === 'pino-iso') {
    const pino = require('pino');
    const opts = { name: 'checkout' };
    if (which === 'pino-iso') opts.timestamp = pino.stdTimeFunctions.isoTime;
    const logger = pino(opts, pino.destination({ dest: 1, sync: true }));
    await script((lvl, msg, extra) => (extra ? logger[lvl](extra, msg) : logger[lvl](msg)));
  } else if (which === 'bunyan') {
    const bunyan = require('bunyan');
    const logger = bunyan.createLogger({ name: 'checkout', stream: process.stdout, serializers: bunyan.stdSerializers });
    await script((lvl, msg, extra) => (extra ? logger[lvl](extra, msg) : logger[lvl](msg)));
  } else if (which === 'winston') {
    const winston = require('winston');
    const logger = winston.createLogger({
      level: 'info',
      format: winston.format.combine(winston.format.errors({ stack: true }), winston.format.timestamp(), winston.format.json()),
      defaultMeta: { service: 'checkout' },
      transports: [new winston.transports.Console()],
    });
    await script((lvl, msg, extra) => (extra ? logger.log(lvl, msg, { error: extra.err, stack: extra.err.stack }) : logger.log(lvl, msg)));
  } else if (which === 'pino-http') {
    // pino-http on a real http server; curl-like requests made with node's own http client
    const pino = require('pino');
    const logger = pino({ name: 'checkout' }, pino.destination({ dest: 1, sync: true }));
    const pinoHttp = require('pino-http')({ logger });
    const server = http.createServer((req, res) => {
      pinoHttp(req, res);
      if (req.url.startsWith('/api/cart')) {
        setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end('{"items":[]}'); }, 20);
      } else if (req.url.startsWith('/api/pay')) {
        res.statusCode = 500;
        res.end('boom');
      } else {
        res.statusCode = 404;
        res.end('not found');
      }
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    logger.info('Worker ' + process.pid + ' started');
    const get = (path, method = 'GET') => new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method, headers: { 'user-agent': 'curl/7.88.1' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    await get('/api/cart/17');
    await get('/api/pay', 'POST');
    await get('/missing');
    await new Promise((r) => server.close(r));
  } else {
    console.error('usage: node loggers.js <pino-epoch|pino-iso|pino-http|bunyan|winston>');
    process.exit(2);
  }
}

main();
