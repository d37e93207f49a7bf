#!/usr/bin/env bash
# Captures samples/gunicorn-timeout: a real gunicorn (sync workers, --timeout 2) serving app.py,
# with load.py as the clients: 15 s of healthy traffic to /, then one client also calls
# /report/q<N>, which takes 5 s, so the master kills the worker serving it (WORKER TIMEOUT) and
# that request fails with a 500. Ends with a graceful stop (SIGTERM to the master): the workers
# that exit then are no deaths.
#   bash samples/repro/gunicorn-timeout/run.sh [OUT_DIR]     (needs python3 and pip access)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../gunicorn-timeout}"
work="$(mktemp -d)"
python3 -m venv "$work/v"
"$work/v/bin/pip" install -q gunicorn
cd "$here"
rm -f "$out/gunicorn.log" "$out/access.log" "$out/client.log"
"$work/v/bin/gunicorn" -w 3 -b 127.0.0.1:8123 --timeout 2 --access-logfile "$out/access.log" \
  --error-logfile "$out/gunicorn.log" --capture-output --pid "$work/pid" app:app &
sleep 2
python3 load.py 40 > "$out/client.log" 2>&1
kill -TERM "$(cat "$work/pid")"
sleep 3
rm -rf "$work"
