#!/usr/bin/env python3
"""Assemble samples/{incident,healthy,history} from raw captures (scenarios.py output).

    build_bundles.py RAWDIR SAMPLESDIR

Everything here is mechanical: captures are time-shifted with wrap.offset_ns /
wrap.shift (one offset per bundle: bundle start - first capture timestamp of
the bundle, applied to every capture, to the Java log's own timestamps, to the
spans and to the OOM-killer ground truth), then written through wrap.py's
envelope functions. Pod objects and events are derived from the same shifted
captures. Counts in each README are measured from the written files.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wrap  # noqa: E402

NS_CAMPAIGN = "campaign"
NS_TRANSLATION = "translation"
RS_HASH = "7f9c6d5b8"
IMAGE = "registry.example.org/campaign/campaign-service:1.42.0"
T_IMAGE = "registry.example.org/translation/translation-service:3.7.2"
NODE_CORES = {"ip-10-0-3-17": 48, "ip-10-0-1-15": 4, "ip-10-0-1-42": 8, "ip-10-0-2-88": 16,
              "ip-10-0-1-23": 4, "ip-10-0-1-57": 8, "ip-10-0-2-31": 16, "ip-10-0-4-21": 8}
NODES_BY_CORES = {4: ["ip-10-0-1-15", "ip-10-0-1-23"], 8: ["ip-10-0-1-42", "ip-10-0-1-57"],
                  16: ["ip-10-0-2-88", "ip-10-0-2-31"]}
SEC = 1_000_000_000

INCIDENT = {
    "start": "2022-04-08T20:55:00Z",
    "translation": {"pod": "translation-5c8d7f6b9-q4w7z", "node": "ip-10-0-4-21"},
    "pods": {
        "incident48": {"pod": "campaign-7f9c6d5b8-x2k9p", "node": "ip-10-0-3-17", "envelope": "kubectl-prefix"},
        "control8": {"pod": "campaign-7f9c6d5b8-m4h2t", "node": "ip-10-0-1-42", "envelope": "cri", "max_line": 64},
        "control16": {"pod": "campaign-7f9c6d5b8-r7n5w", "node": "ip-10-0-2-88", "envelope": "docker"},
    },
}
HEALTHY = {
    "start": "2022-04-07T14:00:00Z",
    "translation": {"pod": "translation-5c8d7f6b9-q4w7z", "node": "ip-10-0-4-21"},
    "pods": {
        "healthy4": {"pod": "campaign-7f9c6d5b8-b8k3d", "node": "ip-10-0-1-15", "envelope": "logcli"},
        "healthy8": {"pod": "campaign-7f9c6d5b8-h6p2v", "node": "ip-10-0-1-42", "envelope": "filebeat"},
        "healthy16": {"pod": "campaign-7f9c6d5b8-t9w4c", "node": "ip-10-0-2-88", "envelope": "kubectl"},
    },
}


# ------------------------------------------------------------------ helpers
def uid_for(name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "pmortem-sample/" + name))


def hex_for(name, n=64):
    return hashlib.sha256(name.encode()).hexdigest()[:n]


def write(path, data, gz=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if gz:
        with gzip.GzipFile(path, "wb", mtime=0) as fh:
            fh.write(data)
    else:
        with open(path, "wb") as fh:
            fh.write(data)


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(x) for x in fh if x.strip()]


def rel(path, root):
    return os.path.relpath(path, root)


# ------------------------------------------------------------------ measuring
RE_START = re.compile(r"^Worker (\d+) started$")
RE_DIED = re.compile(r"^Worker \S+ \(pid: (\d+)\) died \(code: (\S+), signal: (\S+)\)")
RE_CPUS = re.compile(r"^Number of CPUs: (\d+)$")


def campaign_counts(recs, spans):
    lines = [r["line"] for r in recs]
    c = {
        "cpu_count_logged": sorted({int(m.group(1)) for x in lines if (m := RE_CPUS.match(x))}),
        "worker_starts": sum(1 for x in lines if RE_START.match(x)),
        "worker_deaths": sum(1 for x in lines if RE_DIED.match(x)),
        "translation_fetches_logged": sum(1 for x in lines if x.startswith("Fetching translations from ")),
        "translations_loaded": sum(1 for x in lines if x.startswith("Translations loaded ")),
        "translation_fetch_failed": sum(1 for x in lines if x.startswith("Translation fetch failed ")),
        "event_loop_lag_lines": sum(1 for x in lines if x.startswith("Event loop lag: ")),
        "max_event_loop_lag_ms": max([int(x.split()[3]) for x in lines if x.startswith("Event loop lag: ")] or [0]),
        "spans": len(spans),
        "spans_ok": sum(1 for s in spans if s["status"]["code"] == 1),
        "spans_context_cancelled": sum(1 for s in spans if s["status"].get("message") == "context cancelled"),
        "spans_read_timeout": sum(1 for s in spans if s["status"].get("message") == "read timeout"),
        "spans_other_error": sum(1 for s in spans if s["status"]["code"] == 2
                                 and s["status"].get("message") not in ("context cancelled", "read timeout")),
    }
    if recs:
        c["capture_seconds"] = round((recs[-1]["ts_ns"] - recs[0]["ts_ns"]) / SEC, 1)
        if c["worker_deaths"]:
            c["deaths_per_second"] = round(c["worker_deaths"] / max(c["capture_seconds"], 1e-9), 2)
    return c


def translation_counts(recs):
    lines = [r["line"] for r in recs]
    ok = [x for x in lines if re.search(r" INFO  \S+ - GET /translations\S* 200 ", x)]
    ms = sorted(int(re.search(r" 200 (\d+)ms", x).group(1)) for x in ok)
    return {
        "requests_200": len(ok),
        "errors_logged": sum(1 for x in lines if " ERROR " in x),
        "response_is_closed": sum(1 for x in lines if x == "java.lang.IllegalStateException: Response is closed"),
        "p50_ms": ms[len(ms) // 2] if ms else None,
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None,
    }


# ------------------------------------------------------------------ kubernetes objects
def pod_object(pod, namespace, node, app, image, first_ts, container="campaign", env=None):
    created = first_ts - 4 * SEC
    started = first_ts - 1 * SEC
    uid = uid_for(pod)
    cid = hex_for(pod + "/" + container)
    labels = {"app": app, "pod-template-hash": pod.split("-")[-2]}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "creationTimestamp": wrap.fmt_seconds(created), "generateName": pod.rsplit("-", 1)[0] + "-",
            "labels": labels, "name": pod, "namespace": namespace,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                                 "kind": "ReplicaSet", "name": pod.rsplit("-", 1)[0],
                                 "uid": uid_for(pod.rsplit("-", 1)[0])}],
            "resourceVersion": str(int(hex_for(pod, 6), 16) % 900000 + 100000), "uid": uid,
        },
        "spec": {
            "containers": [{
                "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                "image": image, "imagePullPolicy": "IfNotPresent", "name": container,
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            }],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "nodeName": node,
            "preemptionPolicy": "PreemptLowerPriority", "priority": 0, "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": {}, "serviceAccount": "default",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
        },
        "status": {
            "conditions": [
                {"lastProbeTime": None, "lastTransitionTime": wrap.fmt_seconds(created), "status": "True", "type": "Initialized"},
                {"lastProbeTime": None, "lastTransitionTime": wrap.fmt_seconds(first_ts), "status": "True", "type": "Ready"},
                {"lastProbeTime": None, "lastTransitionTime": wrap.fmt_seconds(first_ts), "status": "True", "type": "ContainersReady"},
                {"lastProbeTime": None, "lastTransitionTime": wrap.fmt_seconds(created), "status": "True", "type": "PodScheduled"},
            ],
            "containerStatuses": [{
                "containerID": "containerd://" + cid, "image": image,
                "imageID": image.split(":")[0] + "@sha256:" + hex_for(image),
                "lastState": {}, "name": container, "ready": True, "restartCount": 0, "started": True,
                "state": {"running": {"startedAt": wrap.fmt_seconds(started)}},
            }],
            "hostIP": "10.0." + node.split("-")[3] + "." + node.split("-")[4],
            "phase": "Running",
            "podIP": "10.0.%d.%d" % (100 + int(hex_for(pod, 2), 16) % 50, int(hex_for(pod, 4)[2:], 16) % 250 + 2),
            "podIPs": [], "qosClass": "Guaranteed", "startTime": wrap.fmt_seconds(created),
        },
    }


def _event(name_obj, ns, kind, uid, reason, message, ts, component, host, typ="Normal", field_path=None, count=1, last=None):
    ev = {
        "apiVersion": "v1", "count": count, "eventTime": None,
        "firstTimestamp": wrap.fmt_seconds(ts),
        "involvedObject": {"apiVersion": "v1", "kind": kind, "name": name_obj, "uid": uid},
        "kind": "Event", "lastTimestamp": wrap.fmt_seconds(last if last is not None else ts),
        "message": message,
        "metadata": {"creationTimestamp": wrap.fmt_seconds(ts),
                     "name": f"{name_obj}.{ts:x}",  # client-go: "%v.%x" % (name, UnixNano)
                     "namespace": ns or "default",
                     "resourceVersion": str((ts // 1_000_000) % 9_000_000 + 1_000_000),
                     "uid": uid_for(f"ev/{name_obj}/{reason}/{ts}")},
        "reason": reason, "reportingComponent": "", "reportingInstance": "",
        "source": {"component": component, "host": host} if host else {"component": component},
        "type": typ,
    }
    if ns:
        ev["involvedObject"]["namespace"] = ns
    if field_path:
        ev["involvedObject"]["fieldPath"] = field_path
    return ev


def pod_events(pod_obj):
    md, sp = pod_obj["metadata"], pod_obj["spec"]
    name, ns, uid, node = md["name"], md["namespace"], md["uid"], sp["nodeName"]
    ctr = sp["containers"][0]
    created = wrap.parse_rfc3339(md["creationTimestamp"])
    fp = f"spec.containers{{{ctr['name']}}}"
    return [
        _event(name, ns, "Pod", uid, "Scheduled", f"Successfully assigned {ns}/{name} to {node}", created, "default-scheduler", None),
        _event(name, ns, "Pod", uid, "Pulled", f'Container image "{ctr["image"]}" already present on machine', created + 2 * SEC, "kubelet", node, field_path=fp),
        _event(name, ns, "Pod", uid, "Created", f"Created container {ctr['name']}", created + 2 * SEC, "kubelet", node, field_path=fp),
        _event(name, ns, "Pod", uid, "Started", f"Started container {ctr['name']}", created + 3 * SEC, "kubelet", node, field_path=fp),
    ]


def oom_events(node, kills):
    """node-problem-detector kernel-monitor OOMKilling events, through client-go's EventCorrelator:
    after 10 distinct messages with the same source/object/type/reason within 10 minutes, further
    ones are folded into one '(combined from similar events): ...' event whose count grows."""
    evs, combined = [], None
    for k in kills:
        msg = ("Memory cgroup out of memory: Killed process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB, "
               "shmem-rss:%dkB, UID:%d pgtables:%dkB oom_score_adj:-997"
               % (k["pid"], k.get("comm", "node"), k.get("total_vm_kb", 0), k.get("anon_rss_kb", 0),
                  k.get("file_rss_kb", 0), k.get("shmem_rss_kb", 0), k.get("uid", 0), k.get("pgtables_kb", 0)))
        ts = int(k["ts_ns"])
        if len(evs) < 10:
            evs.append(_event(node, None, "Node", node, "OOMKilling", msg, ts, "kernel-monitor", node, typ="Warning"))
        elif combined is None:
            combined = _event(node, None, "Node", node, "OOMKilling", "(combined from similar events): " + msg, ts,
                              "kernel-monitor", node, typ="Warning")
        else:
            combined["count"] += 1
            combined["lastTimestamp"] = wrap.fmt_seconds(ts)
            combined["message"] = "(combined from similar events): " + msg
    if combined:
        evs.append(combined)
    for e in evs:
        e["metadata"]["namespace"] = "default"
    return evs


def k8s_list(items):
    return wrap.go_json({"apiVersion": "v1", "items": items, "kind": "List",
                         "metadata": {"resourceVersion": "", "selfLink": ""}}, indent=4) + "\n"


# ------------------------------------------------------------------ bundles
def load_scenario(raw, name):
    d = os.path.join(raw, name)
    caps = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".capture.jsonl"):
            caps[f[: -len(".capture.jsonl")]] = wrap.load_capture(os.path.join(d, f))
    first = min(r[0]["ts_ns"] for r in caps.values() if r)
    return d, caps, first


def build_live_bundle(raw, name, cfg, outdir):
    d, caps, first = load_scenario(raw, name)
    off = wrap.offset_ns(cfg["start"], first)
    files, counts, pods, events, spans_all, spans_res = [], {}, [], [], [], []
    tr = cfg["translation"]
    # --- translation service: its own logback file (stdout of the JVM), timestamps shifted
    trecs = caps.pop("translation")
    tlines = [wrap.shift_logback_line(r["line"], off) for r in trecs if r["stream"] == "stdout"]
    stderr_lines = [r for r in trecs if r["stream"] == "stderr"]
    write(os.path.join(outdir, "translation-service.log.gz"), "".join(x + "\n" for x in tlines), gz=True)
    files.append(("translation-service.log.gz", "plain logback file (UTC, no zone), gzip",
                  f"{tr['pod']} ({NS_TRANSLATION}) on {tr['node']}"))
    counts["translation-service"] = translation_counts([{"line": x} for x in tlines])
    if stderr_lines:
        counts["translation-service"]["jvm_stderr_lines_not_in_file"] = len(stderr_lines)
    tpod = pod_object(tr["pod"], NS_TRANSLATION, tr["node"], "translation", T_IMAGE, trecs[0]["ts_ns"] + off,
                      container="translation", env={"TZ": "UTC", "JAVA_TOOL_OPTIONS": "-Duser.timezone=UTC"})
    # --- campaign pods
    for key, pc in cfg["pods"].items():
        recs = wrap.shift(caps[key], off)
        pod, node = pc["pod"], pc["node"]
        pobj = pod_object(pod, NS_CAMPAIGN, node, "campaign", IMAGE, recs[0]["ts_ns"])
        pods.append(pobj)
        events += pod_events(pobj)
        uid = pobj["metadata"]["uid"]
        cid = pobj["status"]["containerStatuses"][0]["containerID"].split("//")[1]
        spans = [wrap.shift_span(s, off, {"k8s.pod.name": pod, "k8s.namespace.name": NS_CAMPAIGN,
                                          "k8s.node.name": node})
                 for s in load_jsonl(os.path.join(d, f"{key}.spans.jsonl"))]
        spans_all += spans
        spans_res.append(({"service.name": "campaign-service", "k8s.pod.name": pod,
                           "k8s.namespace.name": NS_CAMPAIGN, "k8s.node.name": node}, spans))
        kills = [dict(k, ts_ns=int(k["ts_ns"]) + off) for k in load_jsonl(os.path.join(d, f"{key}.oom.jsonl"))]
        events += oom_events(node, kills)
        env = pc["envelope"]
        desc = f"{pod} ({NS_CAMPAIGN}) on {node} ({NODE_CORES[node]} cores, CPU_COUNT={NODE_CORES[node]})"
        if env == "kubectl-prefix":
            fn = f"{pod}.log"
            write(os.path.join(outdir, fn), "".join(wrap.kubectl_lines(recs, pod, "campaign")))
            files.append((fn, "kubectl logs --timestamps --prefix", desc))
        elif env == "kubectl":
            fn = f"{pod}.log"
            write(os.path.join(outdir, fn), "".join(wrap.kubectl_lines(recs)))
            files.append((fn, "kubectl logs --timestamps (no prefix)", desc))
        elif env == "cri":
            fn = f"var/log/pods/{NS_CAMPAIGN}_{pod}_{uid}/campaign/0.log"
            ml = pc.get("max_line", 16384)
            write(os.path.join(outdir, fn), b"".join(wrap.cri_lines(recs, ml)))
            files.append((fn, f"containerd CRI file (max_container_log_line_size={ml}: long lines split P/F)", desc))
        elif env == "docker":
            fn = f"var/lib/docker/containers/{cid}/{cid}-json.log"
            write(os.path.join(outdir, fn), "".join(wrap.docker_lines(recs)))
            cfgv2 = {"ID": cid, "Created": wrap.fmt_go_nano(recs[0]["ts_ns"] - SEC), "Path": "node",
                     "Args": ["app.js"], "Name": f"/k8s_campaign_{pod}_{NS_CAMPAIGN}_{uid}_0",
                     "Config": {"Image": IMAGE, "Cmd": ["node", "app.js"],
                                "Labels": {"io.kubernetes.container.name": "campaign",
                                           "io.kubernetes.pod.name": pod,
                                           "io.kubernetes.pod.namespace": NS_CAMPAIGN,
                                           "io.kubernetes.pod.uid": uid}},
                     "LogPath": f"/var/lib/docker/containers/{cid}/{cid}-json.log",
                     "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}}}
            write(os.path.join(outdir, f"var/lib/docker/containers/{cid}/config.v2.json"), wrap.go_json(cfgv2))
            files.append((fn, "Docker json-file (+ sibling config.v2.json with io.kubernetes.* labels)", desc))
        elif env == "logcli":
            fn = "campaign-loki.jsonl"
            labels = {"app": "campaign", "container": "campaign", "namespace": NS_CAMPAIGN, "pod": pod,
                      "node_name": node, "stream": "stdout",
                      "filename": f"/var/log/pods/{NS_CAMPAIGN}_{pod}_{uid}/campaign/0.log",
                      "job": f"{NS_CAMPAIGN}/campaign"}
            write(os.path.join(outdir, fn), "".join(wrap.logcli_lines([(labels, recs)])))
            files.append((fn, "Grafana logcli query --output=jsonl --timezone=UTC (newest first)", desc))
        elif env == "filebeat":
            fn = "campaign-elasticsearch.ndjson"
            write(os.path.join(outdir, fn), "".join(wrap.filebeat_docs(
                recs, pod, NS_CAMPAIGN, "campaign", node, uid, cid,
                labels={"app": "campaign", "pod-template-hash": RS_HASH})))
            files.append((fn, "Elasticsearch NDJSON of Filebeat _source documents (@timestamp ms)", desc))
        c = campaign_counts(recs, spans)
        c["oom_kills_ground_truth"] = len(kills)
        counts[pod] = c
    # --- spans
    spans_all.sort(key=lambda s: int(s["startTimeUnixNano"]))
    write(os.path.join(outdir, "spans.jsonl"), "".join(json.dumps(s, separators=(",", ":")) + "\n" for s in spans_all))
    files.append(("spans.jsonl", "flat spans, one JSON object per line (OTel field names, plain attribute map)",
                  "all campaign pods"))
    write(os.path.join(outdir, "spans-otlp.json"), json.dumps(wrap.otlp_json(spans_res), separators=(",", ":")) + "\n")
    files.append(("spans-otlp.json", "OTLP/JSON ExportTraceServiceRequest (resourceSpans per pod)", "all campaign pods"))
    pods.append(tpod)
    events += pod_events(tpod)
    events.sort(key=lambda e: (e["lastTimestamp"], e["metadata"]["name"]))
    write(os.path.join(outdir, "pods.json"), k8s_list(pods))
    files.append(("pods.json", "kubectl get pods -o json (List)", "campaign + translation pods"))
    write(os.path.join(outdir, "events.json"), k8s_list(events))
    files.append(("events.json", "kubectl get events -A -o json (List)", "pod lifecycle + node OOMKilling"))
    return files, counts, off


# ------------------------------------------------------------------ history
def build_history(raw, outdir, incident_off):
    rng = random.Random(20220408)
    startups = {}
    for c in (4, 8, 16):
        _, caps, _ = load_scenario(raw, f"startup{c}")
        startups[c] = caps[f"startup{c}"]
    window = 8 * SEC
    _, ncaps, _ = load_scenario(raw, "nearmiss")
    nearmiss = ncaps["nearmiss48"]
    _, icaps, _ = load_scenario(raw, "incident")

    def name():
        return f"campaign-{RS_HASH}-" + "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))

    streams = []  # (labels, records)
    starts_log = []

    def add(pod, node, recs, at_ns, cpu, note=""):
        off = wrap.offset_ns(at_ns, recs[0]["ts_ns"])
        sh = [r for r in wrap.shift(recs, off)]
        uid = uid_for(pod)
        labels = {"app": "campaign", "container": "campaign", "namespace": NS_CAMPAIGN, "pod": pod,
                  "node_name": node, "stream": "stdout", "job": f"{NS_CAMPAIGN}/campaign",
                  "filename": f"/var/log/pods/{NS_CAMPAIGN}_{pod}_{uid}/campaign/0.log"}
        streams.append((labels, sh))
        starts_log.append((wrap.fmt_seconds(sh[0]["ts_ns"]), pod, node, cpu, len(sh), note))

    day0 = wrap.parse_rfc3339("2022-03-10T00:00:00Z")
    nearmiss_at = wrap.parse_rfc3339("2022-04-06T10:49:00Z")
    incident_day = wrap.parse_rfc3339("2022-04-08T00:00:00Z")
    for day in range(30):
        base = day0 + day * 86400 * SEC
        if base == incident_day:
            break
        for replica in range(3):
            n = rng.choice([1, 2])
            for t in sorted(rng.sample(range(6 * 3600, 22 * 3600), n)):
                at = base + t * SEC + rng.randrange(SEC)
                if replica == 0 and base <= nearmiss_at < base + 86400 * SEC:
                    continue  # replica 0's day 04-06 is the near miss, handled below
                cpu = rng.choice([4, 8, 16])
                add(name(), rng.choice(NODES_BY_CORES[cpu]), [r for r in startups[cpu]
                    if r["ts_ns"] - startups[cpu][0]["ts_ns"] < window], at, cpu)
    # near miss: replica 0 lands on the 48-core host at 10:49 (full real capture), then is
    # rescheduled onto a 16-core host right after the capture ends.
    add(name(), "ip-10-0-3-17", nearmiss, nearmiss_at, 48, "near miss: full 48-core capture")
    end_nm = nearmiss_at + (nearmiss[-1]["ts_ns"] - nearmiss[0]["ts_ns"])
    add(name(), "ip-10-0-2-31", [r for r in startups[16] if r["ts_ns"] - startups[16][0]["ts_ns"] < window],
        end_nm + 40 * SEC, 16, "rescheduled after the near miss")
    # incident night: the three incident pods, their own startup windows, same shift as samples/incident
    for key, pc in INCIDENT["pods"].items():
        recs = wrap.shift(icaps[key], incident_off)
        recs = [r for r in recs if r["ts_ns"] - recs[0]["ts_ns"] < window]
        add(pc["pod"], pc["node"], recs, recs[0]["ts_ns"], NODE_CORES[pc["node"]], "incident night (startup window)")
    lines = wrap.logcli_lines(streams)
    write(os.path.join(outdir, "campaign-startup-30d.jsonl.gz"), "".join(lines), gz=True)
    starts_log.sort()
    cpu_lines = [(json.loads(x)["timestamp"], json.loads(x)["labels"]["pod"], json.loads(x)["line"])
                 for x in lines if "Number of CPUs" in x]
    nm = campaign_counts(nearmiss, load_jsonl(os.path.join(raw, "nearmiss", "nearmiss48.spans.jsonl")))
    nm["response_is_closed_at_translation_service"] = translation_counts(
        wrap.load_capture(os.path.join(raw, "nearmiss", "translation.capture.jsonl")))["response_is_closed"]
    return starts_log, cpu_lines, len(lines), nm


def fmt_counts(counts):
    return "```json\n" + json.dumps(counts, indent=2) + "\n```\n"


def main():
    raw, samples = sys.argv[1], sys.argv[2]
    summary = {}
    for bname, scen, cfg, story in (
        ("incident", "incident", INCIDENT,
         "The 48-core night. `campaign-7f9c6d5b8-x2k9p` runs on the 48-core host `ip-10-0-3-17`: its primary "
         "logs `Number of CPUs: 48`, forks 48 workers into a 2Gi pod, the (emulated) memory cgroup OOM killer "
         "SIGKILLs workers, the primary respawns them at once, every new worker re-fetches translations: a death "
         "spiral. The two control pods (8 and 16 cores, same image, same limit) stay healthy. All three talk to "
         "the one translation service, which logs `java.lang.IllegalStateException: Response is closed` when a "
         "worker dies or gives up mid-response; the campaign spans end in `context cancelled` / `read timeout`."),
        ("healthy", "healthy", HEALTHY,
         "A normal day: the same service on 4-, 8- and 16-core hosts with the same 2Gi limit. No worker deaths."),
    ):
        out = os.path.join(samples, bname)
        files, counts, off = build_live_bundle(raw, scen, cfg, out)
        summary[bname] = (counts, off)
        readme = [f"# samples/{bname}\n", story + "\n",
                  f"Captured for real by `samples/repro/make_samples.sh` (scenario `{scen}`), then shifted so the "
                  f"first captured line is at {cfg['start']} (offset {off} ns, applied to every envelope timestamp, "
                  "to the Java log's own timestamps and to span times).\n",
                  "## Files\n", "| file | envelope | source |", "|---|---|---|"]
        readme += [f"| `{f}` | {e} | {s} |" for f, e, s in files]
        readme += ["", "## What happened (measured from the files by build_bundles.py)\n", fmt_counts(counts)]
        write(os.path.join(out, "README.md"), "\n".join(readme))
    starts, cpu_lines, n, nm = build_history(raw, os.path.join(samples, "history"), summary["incident"][1])
    hist = ["# samples/history\n",
            "30 days (2022-03-10 .. 2022-04-08) of campaign-service startup output as a Grafana Loki export, "
            "`campaign-startup-30d.jsonl.gz` (`logcli query --output=jsonl --timezone=UTC`, newest first, "
            "labels app/container/namespace/pod/node_name/stream/job/filename).\n",
            "Each pod start is the REAL first 8 s of output of the campaign app captured with that CPU_COUNT "
            "(one capture per CPU count 4/8/16, reused and time-shifted per start, so pids repeat; the host "
            "core count per start is drawn with `random.Random(20220408)`). Exceptions: 2022-04-06 10:49 "
            "(near miss: a full ~150 s 48-core death-spiral capture, then the replica is rescheduled on a 16-core "
            "host) and the incident night 2022-04-08 20:55 (the startup windows of the three pods of "
            "`samples/incident`, with the same shift).\n",
            f"{n} lines, {len(starts)} pod starts.\n", "## `Number of CPUs` lines found (measured)\n",
            "| timestamp | pod | line |", "|---|---|---|"]
    from collections import Counter
    cc = Counter(l for _, _, l in cpu_lines)
    hist += [f"| {t} | {p} | `{l}` |" for t, p, l in sorted(cpu_lines) if "48" in l]
    hist += ["", "Counts per value: " + ", ".join(f"`{k}` x{v}" for k, v in sorted(cc.items())) + "\n",
             "## Near miss (2022-04-06 10:49), measured from its capture\n", fmt_counts(nm),
             "(The translation service's log of the near miss is not part of this export.)\n",
             "## Starts\n", "| first line | pod | node | CPU_COUNT | lines | note |", "|---|---|---|---|---|---|"]
    hist += [f"| {a} | {b} | {c} | {d} | {e} | {f} |" for a, b, c, d, e, f in starts]
    write(os.path.join(samples, "history", "README.md"), "\n".join(hist) + "\n")
    print(json.dumps({k: v[0] for k, v in summary.items()}, indent=1))


if __name__ == "__main__":
    main()
