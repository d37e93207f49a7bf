#!/usr/bin/env python3
"""Capture a real rsyslog file (Debian package `rsyslog`, `apt-get install -y rsyslog`).

rsyslogd runs in the foreground (`rsyslogd -n -f <conf> -i <pidfile>`) with only an imudp
input on 127.0.0.1:<free port> and one omfile action using RSYSLOG_TraditionalFileFormat,
which is how Debian's /var/log/syslog looks (`Nov 27 06:43:15 host prog[pid]: msg`).
Two real senders:
  * util-linux `logger --rfc3164 -n 127.0.0.1 -P <port> -d -i -t <tag> -p <facility.level>`
  * Python `logging.handlers.SysLogHandler(address=("127.0.0.1", port))` with a formatter
    `checkout-worker[%(process)d]: %(levelname)s %(message)s`, including logger.exception()
    (rsyslog escapes the traceback's newlines as `#012`, as it does in real files).
Everything runs with TZ=America/New_York, so the file holds New York wall-clock time and no
year (that is the format): ingest with `--tz America/New_York`.

Usage: syslog_capture.py OUTFILE
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TZ = "America/New_York"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(out: str) -> int:
    if not shutil.which("rsyslogd") or not shutil.which("logger"):
        sys.exit("rsyslogd/logger not installed: apt-get install -y rsyslog bsdutils")
    os.environ["TZ"] = TZ
    time.tzset()
    tmp = tempfile.mkdtemp(prefix="pm-rsyslog-")
    port = free_udp_port()
    target = os.path.join(tmp, "syslog")
    conf = os.path.join(tmp, "rsyslog.conf")
    with open(conf, "w") as fh:
        fh.write(
            f'global(workDirectory="{tmp}")\n'
            'module(load="imudp")\n'
            f'input(type="imudp" address="127.0.0.1" port="{port}")\n'
            f'*.* action(type="omfile" file="{target}" template="RSYSLOG_TraditionalFileFormat")\n'
        )
    env = dict(os.environ, TZ=TZ)
    rs = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(tmp, "rsyslogd.pid")], env=env)
    try:
        time.sleep(1.0)  # let imudp bind

        def logger(prio: str, tag: str, msg: str):
            subprocess.run(["logger", "--rfc3164", "-n", "127.0.0.1", "-P", str(port), "-d", "-i",
                            "-t", tag, "-p", prio, msg], check=True, env=env)
            time.sleep(0.2)

        logger("daemon.info", "checkout", "Worker 4242 started")
        logger("daemon.info", "checkout", "listening on 0.0.0.0:8080")
        logger("daemon.warning", "checkout", "slow response from pricing: 1250 ms")
        logger("daemon.err", "checkout", "GET /api/cart/17 failed: connect ECONNREFUSED 10.0.3.7:8080")

        py = logging.getLogger("checkout-worker")
        py.setLevel(logging.INFO)
        h = logging.handlers.SysLogHandler(address=("127.0.0.1", port), facility="local0")
        h.setFormatter(logging.Formatter("checkout-worker[%(process)d]: %(levelname)s %(message)s"))
        py.addHandler(h)
        py.info("consumer started, 2 partitions assigned")
        time.sleep(0.2)
        py.warning("event loop lag 180 ms")
        time.sleep(0.2)
        try:
            {}["sku"]
        except KeyError:
            py.exception("order 1001 could not be priced")
        time.sleep(0.2)
        py.critical("Worker 4243 died with code: 1 and signal: null")
        time.sleep(0.2)
        logger("daemon.notice", "checkout", "shutting down")
        time.sleep(0.5)
    finally:
        rs.send_signal(signal.SIGTERM)
        rs.wait(timeout=10)
    shutil.copyfile(target, out)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "syslog"))
