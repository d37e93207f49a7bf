'use strict';
// Legacy fetcher kept in the repo (NOT required by worker.js; the live path is
// translation.js). It exits the worker on fetch failure; reading it suggests a
// feedback loop that the running code does not have -- the case's red herring.
const http = require('node:http');

module.exports = function fetchTranslations(url) {
  return new Promise((resolve) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', (err) => {
      console.error(`Could not fetch translations: ${err.message}`);
      process.exit(1);
    });
  });
};
