'use strict';
// Grows the heap until V8 gives up. Run with a tiny old space so it dies fast:
//   node --max-old-space-size=16 oom.js
// Node 20 then prints the real "<--- Last few GCs --->" ... "FATAL ERROR: ... JavaScript heap
// out of memory" block plus a native stack trace on stderr and aborts (exit code 134).
console.log('checkout starting, pid ' + process.pid + ', node ' + process.version);
console.log('loading price catalogue into memory');
const keep = [];
setTimeout(() => {
  for (;;) keep.push(new Array(10000).fill({ sku: keep.length }));
}, 50);
