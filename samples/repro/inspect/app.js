// A small Node.js 20 service that logs real errors the way Node prints them (issue 12, item 5):
// console.error(err) and console.error(msg, obj) go through util.inspect, which prints an Error's
// stack and then its own properties as a multi-line object (`    at ...` frames, then `  errno: -24,`
// lines indented by two spaces and a lone `}`), and a pretty-printed JSON detail
// (JSON.stringify(x, null, 2)) ends with a lone `}` or `]`. Every error here is real: EMFILE from
// fs.openSync under the builder's `ulimit -n`, ECONNREFUSED from http.get to a closed port.
'use strict';
const fs = require('fs');
const http = require('http');

const now = () => new Date().toISOString();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const EMFILE_ERRORS = Number(process.env.EMFILE_ERRORS || 20);
const REFUSED_ERRORS = Number(process.env.REFUSED_ERRORS || 12);
const JOB_ERRORS = Number(process.env.JOB_ERRORS || 6);
const CLOSED_PORT = Number(process.env.CLOSED_PORT || 9);

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
  });
}

async function main() {
  console.log(`${now()} INFO exporter starting (node ${process.version}, pid ${process.pid})`);
  await sleep(300);

  // 1. descriptor exhaustion: keep files open until open() fails with EMFILE, log each failure
  const held = [];
  let failures = 0;
  while (failures < EMFILE_ERRORS) {
    try {
      held.push(fs.openSync(__filename, 'r'));
    } catch (err) {
      failures++;
      if (failures % 2) console.error(err);                                // the error alone: stack, then its props
      else console.error(`${now()} ERROR export chunk failed:`, err);     // a timestamped head, then the same
      await sleep(40);
    }
  }
  for (const fd of held) fs.closeSync(fd);
  console.log(`${now()} INFO released ${held.length} descriptors`);
  await sleep(300);

  // 2. a dependency that refuses connections: the error object with address and port
  for (let i = 0; i < REFUSED_ERRORS; i++) {
    try {
      await get(`http://127.0.0.1:${CLOSED_PORT}/v1/rates?batch=${i}`);
    } catch (err) {
      console.error(`${now()} ERROR rates fetch failed`, { batch: i, code: err.code, errno: err.errno, syscall: err.syscall,
        address: err.address, port: err.port, retryInMs: 250 * (i + 1) });
    }
    await sleep(60);
  }

  // 3. a failed job with a pretty-printed JSON detail (ends with a lone `}`), and its failed items (a lone `]`)
  for (let i = 0; i < JOB_ERRORS; i++) {
    const detail = { job: `export-${1000 + i}`, attempt: i + 1, error: { code: 'EMFILE', errno: -24 }, files: held.length };
    console.error(`${now()} ERROR job failed: ${JSON.stringify(detail, null, 2)}`);
    console.error(`${now()} WARN skipped items: ${JSON.stringify([`item-${i}-a`, `item-${i}-b`], null, 2)}`);
    await sleep(50);
  }
  console.log(`${now()} INFO exporter done`);
}

main().catch((err) => { console.error(err); process.exit(1); });
