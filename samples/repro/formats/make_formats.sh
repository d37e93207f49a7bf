#!/usr/bin/env bash
# Regenerate samples/formats/ by really running each program (see README.md here).
# Needs (Debian 12): nginx, rsyslog (rsyslogd) and bsdutils (logger), curl, unshare
# (util-linux) run as root, node 20 + npm, javac/java 17, python3 (stdlib only):
#   apt-get install -y nginx rsyslog curl
# Takes ~20 s. Timestamps are the real times of the run, so tests compute their
# expectations from the files, never from constants.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$(cd "$HERE/../.." && pwd)/formats}"
cd "$HERE"
for tool in nginx rsyslogd logger curl node npm javac java unshare; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y nginx rsyslog curl; node 20; openjdk-17)" >&2; exit 1; }
done
rm -rf "$OUT"
RAW="$HERE/raw"
rm -rf "$RAW"
mkdir -p "$OUT"/{nginx,node,java,syslog,kubectl,cri,es,jaeger} "$RAW"

# 1. nginx 1.22 (Debian) in front of python upstreams; curl requests
python3 nginx_capture.py "$OUT/nginx"

# 2, 3, 6. Node loggers (pino, pino-http, bunyan, winston), heap OOM (+ CRI), kubectl --timestamps
(cd node && [ -d node_modules ] || npm ci --no-audit --no-fund)
python3 node_capture.py "$OUT" "$RAW"

# 4. Java 17, logback-style pattern via java.util.logging, exception chain with Caused by / ... N more
BUILD="$(mktemp -d)"
javac -d "$BUILD" java/CheckoutApp.java
java -Duser.timezone=UTC -cp "$BUILD" CheckoutApp > "$OUT/java/checkout.log"
rm -rf "$BUILD"

# 5. rsyslogd (foreground, imudp -> omfile traditional format), senders: logger(1) and Python SysLogHandler
python3 syslog_capture.py "$OUT/syslog/syslog"

# 7, 8. conversions of real captures (documented in convert.py): ES _search (Fluent Bit names), Jaeger JSON
python3 convert.py es "$RAW/pino-iso.jsonl" "$OUT/es/search-response.json"
python3 convert.py jaeger "$HERE/../../incident/spans.jsonl" "$OUT/jaeger/traces.json"

find "$OUT" "$RAW" -type f | sort | xargs wc -l
