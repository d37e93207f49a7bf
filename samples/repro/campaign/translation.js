'use strict';
// Live path: fetch translations, fall back to bundled fallbackTranslations on failure.
const http = require('node:http');
const crypto = require('node:crypto');
const fs = require('node:fs');

const BASE = process.env.TRANSLATION_URL || 'http://127.0.0.1:18080';
const TIMEOUT_MS = parseInt(process.env.FETCH_TIMEOUT_MS || '1000', 10);
const SPANS_FILE = process.env.SPANS_FILE || '';
const fallbackTranslations = { lang: 'en', messages: { 'campaign.banner.0': 'Sale' } };

function writeSpan(span) {
  if (SPANS_FILE) fs.appendFileSync(SPANS_FILE, JSON.stringify(span) + '\n');
}

const EPOCH_BASE_NS = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();
const nowNs = () => EPOCH_BASE_NS + process.hrtime.bigint();

function loadTranslations(lang) {
  const url = `${BASE}/translations?lang=${lang}`;
  const traceId = crypto.randomBytes(16).toString('hex');
  const spanId = crypto.randomBytes(8).toString('hex');
  const start = nowNs();
  const t0 = Date.now();
  console.log(`Fetching translations from ${url}`);
  return new Promise((resolve) => {
    let phase = 'connect';
    let status = 0;
    let bytes = 0;
    let finished = false;
    const finish = (ok, message) => {
      if (finished) return;
      finished = true;
      const ms = Date.now() - t0;
      writeSpan({
        traceId, spanId, parentSpanId: '', name: 'GET /translations', kind: 'SPAN_KIND_CLIENT',
        startTimeUnixNano: start.toString(), endTimeUnixNano: nowNs().toString(),
        attributes: {
          'service.name': 'campaign-service', 'peer.service': 'translation-service',
          'http.method': 'GET', 'http.url': url, 'http.status_code': status,
          'process.pid': process.pid,
        },
        status: ok ? { code: 1, message: '' } : { code: 2, message },
      });
      if (ok) {
        console.log(`Translations loaded (lang=${lang}, ${bytes} bytes, ${ms} ms)`);
      } else {
        console.log(`Translation fetch failed (lang=${lang}): ${message} after ${ms} ms, using fallbackTranslations`);
      }
    };
    const req = http.get(url, { headers: { traceparent: `00-${traceId}-${spanId}-01` } }, (res) => {
      phase = 'body';
      status = res.statusCode;
      res.on('data', (c) => { bytes += c.length; });
      res.on('end', () => { clearTimeout(timer); finish(status === 200, `HTTP ${status}`); resolve(status === 200 ? {} : fallbackTranslations); });
      res.on('error', () => {});
    });
    const timer = setTimeout(() => {
      // context deadline hit: before headers -> the request context is cancelled;
      // while reading the body -> read timeout.
      finish(false, phase === 'body' ? 'read timeout' : 'context cancelled');
      req.destroy();
      resolve(fallbackTranslations);
    }, TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      finish(false, err.code === 'ECONNREFUSED' ? 'connection refused' : (err.message || 'request error'));
      resolve(fallbackTranslations);
    });
  });
}

module.exports = { loadTranslations, fallbackTranslations };
