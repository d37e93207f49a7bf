#!/usr/bin/env python3
"""Run a real nginx (Debian package `nginx`, `apt-get install -y nginx`) on 127.0.0.1 and
capture its access logs (combined + the `timed` format) and its error log.

Topology (all on loopback, ports picked free at run time):
  * upstream "app":  python http.server (ThreadingHTTPServer) answering 200/404/201
  * upstream "slow": python server that sleeps 2 s before answering; nginx has
                     proxy_read_timeout 1s -> `upstream timed out (110: Connection timed out)`
  * upstream "gone": a port nothing listens on -> `connect() failed (111: Connection refused)`
nginx runs in the foreground (`daemon off;`, master_process on) with TZ=Europe/Berlin, so
$time_local carries +0100/+0200 and the error log is Berlin wall-clock time; it is stopped
with SIGQUIT (graceful) at the end.  Requests are made with curl.

Usage: nginx_capture.py OUTDIR    (writes access.log, access_timed.log, error.log)
"""
from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TZ = "Europe/Berlin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: bytes):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/api/cart/"):
            time.sleep(0.05)
            self._send(200, b'{"items":[{"sku":"42","qty":1}]}')
        else:
            self._send(404, b'{"error":"not found"}')

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "32")
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self._send(201, b'{"order":"A-1001"}')

    def log_message(self, *a):  # quiet
        pass


class Slow(App):
    def do_GET(self):
        time.sleep(2.0)
        try:
            self._send(200, b'{"late":true}')
        except OSError:
            pass


CONF = """
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{ worker_connections 64; }}
http {{
    log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time';
    access_log {tmp}/access.log combined;
    access_log {tmp}/access_timed.log timed;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app  {{ server 127.0.0.1:{app}; }}
    upstream slow {{ server 127.0.0.1:{slow}; }}
    upstream gone {{ server 127.0.0.1:{gone}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name shop.example.internal;
        location = /nginx-health {{ return 200 "ok\\n"; }}
        location /api/   {{ proxy_pass http://app; }}
        location /pricing/ {{ proxy_pass http://slow; proxy_read_timeout 1s; }}
        location /legacy/  {{ proxy_pass http://gone; }}
    }}
}}
"""


def main(out: str) -> int:
    if not shutil.which("nginx"):
        sys.exit("nginx not installed: apt-get install -y nginx")
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="pm-nginx-")
    app_port, slow_port, gone_port, port = free_port(), free_port(), free_port(), free_port()
    servers = []
    for handler, p in ((App, app_port), (Slow, slow_port)):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", p), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as fh:
        fh.write(CONF.format(tmp=tmp, app=app_port, slow=slow_port, gone=gone_port, port=port))
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin"), "TZ": TZ}
    ngx = subprocess.Popen(["nginx", "-p", tmp, "-c", conf, "-g", "daemon off;"], env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        ua = ["-A", "Mozilla/5.0 (X11; Linux x86_64) checkout-e2e/1.0"]
        reqs = [
            ["-s", f"{base}/nginx-health"],
            ["-s", *ua, f"{base}/api/cart/17"],
            ["-s", *ua, "-e", f"{base}/shop", f"{base}/api/cart/18?currency=EUR"],
            ["-s", "-X", "POST", "-H", "Content-Type: application/json", "-d", '{"sku":"42"}', f"{base}/api/orders"],
            ["-s", f"{base}/api/nope"],
            ["-s", f"{base}/legacy/invoice/7"],
            ["-s", *ua, f"{base}/pricing/sku/42"],
            ["-s", "-I", f"{base}/api/cart/19"],
            ["-s", f"{base}/legacy/invoice/8"],
            ["-s", f"{base}/api/cart/20"],
        ]
        for r in reqs:
            subprocess.run(["curl", "-o", "/dev/null", "--max-time", "5", *r], check=False)
            time.sleep(0.3)
    finally:
        ngx.send_signal(signal.SIGQUIT)
        try:
            ngx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ngx.kill()
            ngx.wait()
        for srv in servers:
            srv.shutdown()
    for name in ("access.log", "access_timed.log", "error.log"):
        shutil.copyfile(os.path.join(tmp, name), os.path.join(out, name))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
