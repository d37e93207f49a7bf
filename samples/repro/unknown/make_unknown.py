"""Capture an incident no rule knows (issue 13, other-failure-modes.md #5) for real and wrap it.

Three pods of pricing-service (pricing.js, Node.js 20) listen on 127.0.0.2/3/4:8080 (their "pod
IPs") behind a real nginx (upstream round robin, ingress-nginx `upstreaminfo` access format with
$upstream_addr, $request_time, $upstream_response_time). client.js sends ~12 req/s through nginx.
After BASELINE_S seconds of healthy traffic the builder writes a new rates_source into pod 1's
config file and sends it SIGHUP (what a ConfigMap watcher does); pod 1 logs `config reloaded` and
the new source takes effect at its next rate refresh (every REFRESH_S), about a minute later. The
new rate table lacks some currencies, so pod 1 starts answering a share of requests with 500 and a
new error (`TypeError: Cannot read properties of undefined (reading 'mid')`). Siblings never reload.

Envelopes: the pods as one Grafana Loki `logcli query --output=jsonl` export (newest first), nginx
as `kubectl logs --timestamps --prefix` (gzip), plus `kubectl get pods -o json`. No time shift:
the timestamps are the capture's own clock. Writes samples/unknown/{files, README.md, expected.json}.

    python samples/repro/unknown/make_unknown.py      # ~8 min
    BASELINE_S=20 REFRESH_S=10 FAIL_S=20 python ...   # quick smoke run (not committed)
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pool"))
import infra  # noqa: E402
from infra import capture, wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", infra.SAMPLES / "unknown"))
BASELINE_S = float(os.environ.get("BASELINE_S", 240))
REFRESH_S = float(os.environ.get("REFRESH_S", 60))
FAIL_S = float(os.environ.get("FAIL_S", 180))
NS = "shop"
PODS = [("pricing-7f9c6d5b8-x4k2p", "127.0.0.2", "node-a-3"), ("pricing-7f9c6d5b8-m9t7w", "127.0.0.3", "node-b-1"),
        ("pricing-7f9c6d5b8-q2z8r", "127.0.0.4", "node-c-2")]
BAD = 0  # index of the pod whose config is reloaded
NGINX_POD = "ingress-nginx-controller-6d4c8b7f9-h5j2n"
CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF", "SEK", "NOK", "PLN", "DKK", "CZK"]
OLD_RATES = {"EUR": 1.0, "USD": 1.0556, "GBP": 0.8321, "JPY": 158.9, "CHF": 0.9312, "SEK": 11.52, "NOK": 11.71,
             "PLN": 4.289, "DKK": 7.458, "CZK": 25.21}
NEW_SOURCE_MISSING = ["CHF", "SEK", "NOK", "PLN"]  # the new table ships without them


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pm13-unknown-") as tmp:
        tmp = Path(tmp)
        rates_dir = tmp / "rates"
        rates_dir.mkdir()
        (rates_dir / "ecb-2024-11.json").write_text(json.dumps(
            {"rates": {c: {"mid": v} for c, v in OLD_RATES.items()}}))
        (rates_dir / "ecb-2024-12-eurozone.json").write_text(json.dumps(
            {"rates": {c: {"mid": v} for c, v in OLD_RATES.items() if c not in NEW_SOURCE_MISSING}}))
        caps, cfgs = [], []
        for i, (pod, ip, _node) in enumerate(PODS):
            cfg = tmp / f"config-{i}.json"
            cfg.write_text(json.dumps({"rates_source": "ecb-2024-11"}))
            cfgs.append(cfg)
            env = {"HOSTNAME": pod, "POD_IP": ip, "PORT": "8080", "CONFIG_FILE": "/etc/pricing/config.json",
                   "RATES_DIR": str(rates_dir), "REFRESH_MS": str(int(REFRESH_S * 1000))}
            # the program logs CONFIG_FILE as given; point it at the per-pod copy via a symlink-free env
            env["CONFIG_FILE"] = str(cfg)
            c = capture.Capture(["node", str(HERE / "pricing.js")], str(tmp / f"pod{i}.jsonl"), env=env).start()
            caps.append(c)
        for _pod, ip, _ in PODS:
            infra.wait_port(ip, 8080)
        port = infra.free_port()
        servers = ("    upstream pricing {\n" + "".join(f"        server {ip}:8080;\n" for _p, ip, _n in PODS)
                   + "        keepalive 16;\n    }\n"
                   f"    server {{\n        listen 127.0.0.1:{port};\n        server_name pricing.shop.svc;\n"
                   "        location / {\n            proxy_pass http://pricing;\n"
                   "            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n"
                   "            proxy_next_upstream off;\n        }\n    }\n")
        ngx = infra.Nginx(str(tmp / "nginx.jsonl"), servers,
                          infra.UPSTREAMINFO.format(upstream="shop-pricing-8080")).start(port)
        client = capture.Capture(["node", str(HERE / "client.js")], str(tmp / "client.jsonl"),
                                 env={"NGINX_PORT": str(port), "RATE": "12",
                                      "CURRENCIES": ",".join(CURRENCIES)}).start()
        try:
            time.sleep(BASELINE_S)
            # reload right after a refresh of the bad pod, so the new source applies ~REFRESH_S later
            caps[BAD].wait_for("rate table refreshed", timeout=REFRESH_S + 5)
            time.sleep(2.0)
            cfgs[BAD].write_text(json.dumps({"rates_source": "ecb-2024-12-eurozone"}))
            caps[BAD].proc.send_signal(signal.SIGHUP)
            if not caps[BAD].wait_for("quote failed", timeout=REFRESH_S + 10):
                raise RuntimeError("pod did not start failing")
            time.sleep(FAIL_S)
        finally:
            client.stop()
            ngx.stop()
            for c in caps:
                c.stop()
        pods = [wrap.load_capture(str(tmp / f"pod{i}.jsonl")) for i in range(len(PODS))]
        nginx = wrap.load_capture(str(tmp / "nginx.jsonl"))
    build(pods, nginx)


def build(pods, nginx) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.iterdir():
        if p.is_file():
            p.unlink()
    streams = [({"app": "pricing", "container": "pricing", "namespace": NS, "pod": pod, "node_name": node,
                 "stream": "stdout"}, recs) for (pod, _ip, node), recs in zip(PODS, pods)]
    loki = "".join(wrap.logcli_lines(streams, forward=False))
    infra.write_text(OUT / "loki-pricing-export.jsonl.gz", loki, gz=True)
    infra.write_text(OUT / f"{NGINX_POD}.log.gz",
                     "".join(wrap.kubectl_lines(nginx, NGINX_POD, "controller")), gz=True)
    infra.dump_json(OUT / "pods.json", infra.pod_objects(
        [{"name": pod, "ip": ip, "node": node, "container": "pricing",
          "labels": {"app": "pricing", "pod-template-hash": "7f9c6d5b8"},
          "image": "registry.example.org/shop/pricing-service:2.4.1"} for pod, ip, node in PODS], NS))

    # ---- measure from the captures
    def jl(r):
        try:
            return json.loads(r["line"])
        except ValueError:
            return {}
    bad_pod, bad_ip, _ = PODS[BAD]
    reload_ts = next(r["ts_ns"] for r in pods[BAD] if jl(r).get("msg", "").startswith("config reloaded"))
    errs = [(i, r) for i, recs in enumerate(pods) for r in recs if jl(r).get("msg") == "quote failed"]
    onset_ts = min(r["ts_ns"] for _i, r in errs)
    err_msgs = Counter(f"{jl(r)['err']['type']}: {jl(r)['err']['message']}" for _i, r in errs)
    acc = infra.access_records(nginx)
    first_ts, last_ts = nginx[0]["ts_ns"], nginx[-1]["ts_ns"]
    by_up = {}
    for r, m in acc:
        d = by_up.setdefault(m["upstream_addr"], Counter())
        d["total"] += 1
        d[m["status"]] += 1
        if r["ts_ns"] >= onset_ts:
            d["after_onset"] += 1
            d[f"after_onset_{m['status']}"] += 1
    n500 = sum(1 for _r, m in acc if m["status"] == "500")
    first_500 = min(r["ts_ns"] for r, m in acc if m["status"] == "500")
    before500 = sum(1 for r, m in acc if m["status"] == "500" and r["ts_ns"] < reload_ts)
    after_bad = by_up[f"{bad_ip}:8080"]
    share = after_bad["after_onset_500"] / max(1, after_bad["after_onset"])
    failing_cur = sorted({jl(r)["currency"] for _i, r in errs})
    raw, comp = infra.bundle_sizes(OUT)
    pod_of_ip = {f"{ip}:8080": pod for pod, ip, _ in PODS}
    key = {
        "access_lines": len(acc),
        "proxy_500_total": n500,
        "proxy_500_before_reload": before500,
        "proxy_500_by_pod": {pod_of_ip[a]: c["500"] for a, c in sorted(by_up.items())},
        "requests_by_pod": {pod_of_ip[a]: c["total"] for a, c in sorted(by_up.items())},
        "bad_pod_500_share_after_onset": round(share, 3),
        "quote_failed_lines_by_pod": {PODS[i][0]: n for i, n in sorted(Counter(i for i, _ in errs).items())},
        "new_error_messages": dict(err_msgs),
        "failing_currencies": failing_cur,
        "baseline_healthy_s": round((reload_ts - first_ts) / 1e9, 1),
        "reload_to_first_error_s": round((onset_ts - reload_ts) / 1e9, 1),
        "failing_window_s": round((last_ts - onset_ts) / 1e9, 1),
        "bundle_raw_bytes": raw, "bundle_gzip_bytes": comp,
    }
    expected = {
        "bundle": "unknown",
        "root_cause": "error_surge",
        "entity": {"pod": bad_pod, "namespace": NS, "pod_ip": bad_ip},
        "onset": infra.iso(onset_ts),
        "config_reload": infra.iso(reload_ts),
        "first_proxy_500": infra.iso(first_500),
        "new_template": "quote failed: TypeError: Cannot read properties of undefined (reading 'mid')",
        "healthy_siblings": [p for p, _i, _n in PODS if p != bad_pod],
        "key_numbers": key,
    }
    infra.dump_json(OUT / "expected.json", expected)
    readme(expected, first_ts, last_ts)
    print(json.dumps(expected, indent=2))


def readme(e, first_ts, last_ts) -> None:
    k = e["key_numbers"]
    pods_tbl = "\n".join(f"| `{p}` | {ip} | {n} | {k['requests_by_pod'].get(p, 0)} | {k['proxy_500_by_pod'].get(p, 0)} |"
                         for p, ip, n in PODS)
    text = f"""# samples/unknown

An incident no rule in the catalogue knows (issue 13; `shared/cases/other-failure-modes.md` #5),
captured for real by `python samples/repro/unknown/make_unknown.py` (~8 min of real runs). Every
line was printed by a program that ran: three pods of `pricing-service` (`repro/unknown/pricing.js`,
Node.js 20, pino-style JSON lines) on 127.0.0.2/3/4:8080 behind a real nginx (Debian package,
ingress-nginx `upstreaminfo` access format: `$upstream_addr`, `$request_time`,
`$upstream_response_time`, `$upstream_status`, `$request_id`), with `repro/unknown/client.js`
sending ~12 requests/s through it. No time shift: timestamps are the capture clock
({infra.iso(first_ts)} .. {infra.iso(last_ts)}).

What happened: after {k['baseline_healthy_s']} s of healthy traffic the builder changed pod
`{e['entity']['pod']}`'s config file and sent it SIGHUP (what a ConfigMap watcher does). The pod
logged `config reloaded ... rates_source=ecb-2024-12-eurozone (was ecb-2024-11), applies at next rate
refresh` at {e['config_reload']}; {k['reload_to_first_error_s']} s later its next rate refresh loaded the
new table, which lacks {', '.join(k['failing_currencies'])}, and from {e['onset']} it answered every quote in
those currencies with 500 and a log line never seen before: `quote failed` with
`{next(iter(k['new_error_messages']))}`. The two sibling pods never reloaded and stayed healthy.

| file | envelope | source |
|---|---|---|
| `loki-pricing-export.jsonl.gz` | Grafana Loki `logcli query --output=jsonl` (newest first), labels `app`, `container`, `namespace`, `pod`, `node_name`, `stream` | the three `pricing.js` pods |
| `{NGINX_POD}.log.gz` | `kubectl logs --timestamps --prefix` (`[pod/{NGINX_POD}/controller]`) | nginx access log (stdout) + error log (stderr) |
| `pods.json` | `kubectl get pods -o json` (maps upstream address to pod: `status.podIP`) | written by the builder from the run's topology |

| pod | pod IP | node | requests at nginx | 500s at nginx |
|---|---|---|---|---|
{pods_tbl}

## What a correct report concludes
- Root cause family: an error surge of a NEW template (no known rule): `quote failed` /
  `TypeError: Cannot read properties of undefined (reading 'mid')`, absent from the baseline window,
  on ONE pod (`{e['entity']['pod']}`), starting {e['onset']}.
- It started {k['reload_to_first_error_s']} s after that pod's `config reloaded` line (the change to point at);
  the proxy shows the same: {k['proxy_500_total']} 500s in total, all from upstream `{e['entity']['pod_ip']}:8080`
  ({k['proxy_500_before_reload']} before the reload); after the onset {k['bad_pod_500_share_after_onset'] * 100:.1f} % of that pod's
  requests fail.
- Decoy/healthy control: the sibling pods `{e['healthy_siblings'][0]}` and `{e['healthy_siblings'][1]}` serve the
  same traffic in the same minutes with 0 errors; the baseline ({k['baseline_healthy_s']} s) has no 500s at all.

## Key numbers (measured from the captures by the builder; also in `expected.json`)
```
{json.dumps(k, indent=2)}
```
A rerun gives other pids, request ids and counts; the README and `expected.json` are rewritten from it.
"""
    (OUT / "README.md").write_text(text)


if __name__ == "__main__":
    main()
