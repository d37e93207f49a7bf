#!/usr/bin/env bash
# Regenerate samples/{incident,healthy,history} from scratch by really running the programs.
# Needs: node >= 20, javac/java 17, python3 (stdlib only). Takes ~9 minutes (real time).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SAMPLES="$(dirname "$HERE")"
RAW="${RAW:-$HERE/out}"
cd "$HERE"
# builds the Java service into translation/build (git-ignored), runs `npm ci` if a lockfile
# exists and node_modules is missing, then runs every scenario and records raw captures
python3 scenarios.py "$RAW" "${@:-all}"
rm -rf "$SAMPLES/incident" "$SAMPLES/healthy" "$SAMPLES/history"
python3 build_bundles.py "$RAW" "$SAMPLES"
du -sh "$SAMPLES"
