"""Shared helpers for the issue-13 bundle builders (pool, unknown, crashloop-config, heap-oom,
uneven, session): run a real nginx and a real PostgreSQL on loopback as our own processes under
capture.py, wait for ports, write bundles, measure.

nginx (Debian `nginx`) runs in the foreground with `access_log /dev/stdout` and `error_log
/dev/stderr`, as the ingress-nginx controller does, so its own lines are captured with their
arrival time like any container's. PostgreSQL (Debian `postgresql`, 15) is initdb'ed into a temp
dir and run as the `postgres` OS user (it refuses root) with `setpriv`, logging to stderr.

Every process started here is stopped by its own pid (Capture.stop / Popen), never by name.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPRO = Path(__file__).resolve().parent.parent
SAMPLES = REPRO.parent
sys.path.insert(0, str(REPRO))
import capture  # noqa: E402
import wrap  # noqa: E402

NODE_MODULES = str(Path(__file__).resolve().parent / "node_modules")
PGBIN = "/usr/lib/postgresql/15/bin"

# ingress-nginx's default `upstreaminfo` format with plain nginx variables ($proxy_upstream_name is an
# ingress-nginx Lua variable; here the upstream name is part of the format string).
UPSTREAMINFO = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                '"$http_referer" "$http_user_agent" $request_length $request_time [{upstream}] [] '
                '$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $request_id')


def free_port(host="127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{host}:{port} did not open")


def ensure_node_modules():
    if not os.path.isdir(NODE_MODULES):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=str(Path(NODE_MODULES).parent), check=True)


class Nginx:
    """Real nginx in the foreground; access log to stdout, error log to stderr (captured)."""

    def __init__(self, raw_path, servers_conf, log_format, tz="UTC", worker_processes=2):
        if not shutil.which("nginx"):
            sys.exit("nginx not installed: apt-get install -y nginx")
        self.tmp = tempfile.mkdtemp(prefix="pm13-nginx-")
        self.conf = os.path.join(self.tmp, "nginx.conf")
        lf = log_format.replace("'", "\\'")
        text = f"""
user root;
worker_processes {worker_processes};
pid {self.tmp}/nginx.pid;
error_log /dev/stderr notice;
events {{ worker_connections 1024; }}
http {{
    log_format upstreaminfo '{lf}';
    access_log /dev/stdout upstreaminfo;
    client_body_temp_path {self.tmp}/body;
    proxy_temp_path {self.tmp}/proxy;
    fastcgi_temp_path {self.tmp}/fastcgi;
    uwsgi_temp_path {self.tmp}/uwsgi;
    scgi_temp_path {self.tmp}/scgi;
{servers_conf}
}}
"""
        Path(self.conf).write_text(text)
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin"), "TZ": tz}
        self.cap = capture.Capture(["nginx", "-p", self.tmp, "-c", self.conf, "-g", "daemon off;"], raw_path,
                                   env=env)
        # Capture merges os.environ; nginx only needs PATH/TZ but extra vars are harmless.

    def start(self, port):
        self.cap.start()
        wait_port("127.0.0.1", port)
        return self

    def stop(self):
        rc = self.cap.stop(signal.SIGQUIT, grace=10)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc


class Postgres:
    """A throw-away PostgreSQL 15 cluster on 127.0.0.1:<port>, logging to stderr (captured)."""

    def __init__(self, raw_path, port, max_connections=20, extra=()):
        self.dir = tempfile.mkdtemp(prefix="pm13-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.port = port
        shutil.chown(self.dir, "postgres", "postgres")
        asp = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
        subprocess.run(asp + [f"{PGBIN}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                              "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
        cmd = asp + [f"{PGBIN}/postgres", "-D", self.data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                     "-c", f"unix_socket_directories={self.dir}", "-c", f"max_connections={max_connections}",
                     "-c", "log_timezone=UTC", "-c", "log_line_prefix=%m [%p] %q%u@%d ",
                     "-c", "log_connections=off", "-c", "logging_collector=off", *extra]
        self.cap = capture.Capture(cmd, raw_path, env={"TZ": "UTC", "LC_ALL": "C.UTF-8"})

    def start(self):
        self.cap.start()
        wait_port("127.0.0.1", self.port)
        time.sleep(0.3)
        return self

    def psql(self, sql, user="postgres", db="postgres"):
        subprocess.run([f"{PGBIN}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", db,
                        "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True)

    def stop(self):
        rc = self.cap.stop(signal.SIGINT, grace=15)  # fast shutdown
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def write_text(path: Path, text: str, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with open(path, "wb") as fh:  # mtime=0: a rebuild of the same bytes gives the same file
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as g:
                g.write(text.encode("utf-8"))
    else:
        path.write_text(text, encoding="utf-8")


def iso(ts_ns) -> str:
    return wrap.fmt_millis(ts_ns)


def dump_json(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def bundle_sizes(out_dir: Path):
    """(raw bytes, gzip bytes) of the bundle's log files, for the README."""
    raw = comp = 0
    for p in sorted(out_dir.rglob("*")):
        if p.is_file() and p.name not in ("README.md", "expected.json"):
            data = p.read_bytes()
            if p.suffix == ".gz":
                comp += len(data)
                raw += len(gzip.decompress(data))
            else:
                raw += len(data)
                comp += len(gzip.compress(data, mtime=0))
    return raw, comp


ACCESS_RE = __import__("re").compile(
    r'^(?P<remote>\S+) - (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)" (?P<req_len>\d+) (?P<request_time>[\d.]+) \[(?P<upstream>[^\]]*)\] \[[^\]]*\] '
    r'(?P<upstream_addr>\S+(?:, \S+)*) (?P<up_len>\S+(?:, \S+)*) (?P<up_time>\S+(?:, \S+)*) '
    r'(?P<up_status>\S+(?:, \S+)*) (?P<req_id>\S+)$')


def access_records(records):
    """(capture record, match dict) for each nginx access line of a capture."""
    out = []
    for r in records:
        if r["stream"] != "stdout":
            continue
        m = ACCESS_RE.match(r["line"])
        if m:
            out.append((r, m.groupdict()))
    return out


def pod_objects(pods, namespace):
    """`kubectl get pods -o json` List for pods [(name, ip, node, labels, container, restarts, last_term)]."""
    items = []
    for p in pods:
        st = {"name": p["container"], "ready": p.get("ready", True), "restartCount": p.get("restarts", 0),
              "image": p.get("image", ""), "state": p.get("state", {"running": {}})}
        if p.get("last_state"):
            st["lastState"] = p["last_state"]
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p["name"], "namespace": namespace, "labels": p["labels"],
                         "uid": p.get("uid", "")},
            "spec": {"nodeName": p["node"], "containers": [{"name": p["container"], "image": p.get("image", ""),
                     "resources": p.get("resources", {})}]},
            "status": {"phase": "Running", "podIP": p["ip"], "containerStatuses": [st]},
        })
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
