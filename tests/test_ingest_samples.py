"""Each envelope and payload on files captured from real programs (samples/), with values
computed independently here from the raw files."""

from __future__ import annotations

import gzip
import json
import re

from conftest import SAMPLES, require

INC = SAMPLES / "incident"
HEALTHY = SAMPLES / "healthy"
POD48 = "campaign-7f9c6d5b8-x2k9p"


def _by_path(cli) -> dict[str, dict]:
    return {s["path"].split("samples/")[-1]: s for s in cli.sources()}


def test_incident_bundle_formats_entities_and_accounting(cli):
    cli.ok("ingest", str(require(INC)), "-q")
    srcs = _by_path(cli)
    fmts = {p.split("/")[-1]: s["format"] for p, s in srcs.items()}
    assert fmts[f"{POD48}.log"] == "kubectl_prefix"
    assert fmts["0.log"] == "cri"
    assert [f for p, f in fmts.items() if p.endswith("-json.log")] == ["docker"]
    assert fmts["spans.jsonl"] == "otel_span_ndjson"
    assert fmts["pods.json"] == fmts["events.json"] == fmts["spans-otlp.json"] == "document"
    assert fmts["translation-service.log.gz"] == "plain"
    for s in srcs.values():
        assert s["lines"] == s["lines_parsed"] + s["lines_rejected"], s
        assert s["lines_rejected"] == 0, s
    # every line of every file is accounted for
    for p, s in srcs.items():
        path = SAMPLES / p
        raw = gzip.decompress(path.read_bytes()) if p.endswith(".gz") else path.read_bytes()
        assert s["lines"] == raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1), p


def test_kubectl_prefix_worker_lifecycle_counts_match_raw_file(cli):
    f = require(INC / f"{POD48}.log")
    text = f.read_text()
    deaths = len(re.findall(r"Worker fragment \(pid: \d+\) died", text))
    starts = len(re.findall(r"\] \S+ Worker \d+ started$", text, re.M))
    # both phrasings are CPU-count observations: "Number of CPUs: N" and "forking N workers"
    cpus = re.findall(r"(?:Number of CPUs: |forking )(\d+)", text)
    cli.ok("ingest", str(f), "-q")
    got = dict(cli.sql("SELECT kind, count(*) FROM events GROUP BY kind"))
    assert got["worker_exit"] == deaths > 0
    assert got["worker_start"] == starts > 0
    assert cli.sql("SELECT cpu_count FROM events WHERE kind = 'cpu_count'") == [(int(c),) for c in cpus]
    # pid, signal and the envelope's entities on a death
    first = re.search(r"^\[pod/([^/]+)/([^\]]+)\] (\S+) Worker fragment \(pid: (\d+)\) died \(code: null, signal: (\w+)\)", text, re.M)
    row = cli.sql("SELECT pod, container, service, pid, signal, exit_code, ts_text, entity_source FROM events WHERE kind = 'worker_exit' ORDER BY line_no LIMIT 1")[0]
    assert row[:6] == (first.group(1), first.group(2), "campaign", int(first.group(4)), first.group(5), None)
    assert row[6] == first.group(3)
    assert json.loads(row[7])["pod"] == "envelope"


def test_cri_partial_lines_are_reassembled(cli):
    (pod_dir,) = (INC / "var/log/pods").iterdir()
    f = require(pod_dir / "campaign" / "0.log")
    raw = f.read_text().splitlines()
    partial = [ln for ln in raw if re.match(r"^\S+ (stdout|stderr) P ", ln)]
    assert partial, "the sample should hold runtime-split lines"
    # rebuild logical lines independently: P pieces are glued to the following F of the same stream
    logical, buf = [], {}
    for ln in raw:
        ts, stream, tag, content = (ln.split(" ", 3) + [""])[:4]
        buf[stream] = buf.get(stream, "") + content
        if tag == "F":
            logical.append(buf.pop(stream))
    mem = [ln for ln in logical if ln.startswith("Memory usage:")]
    cli.ok("ingest", str(f), "-q")
    (src,) = cli.sources()
    assert (src["namespace"], src["pod"], src["container"]) == tuple(pod_dir.name.split("_")[:2]) + ("campaign",)
    assert src["lines_folded"] >= len(partial)
    got = [m for (m,) in cli.sql("SELECT message FROM events WHERE kind = 'memory' ORDER BY line_no")]
    assert got == mem
    es = json.loads(cli.sql("SELECT entity_source FROM events LIMIT 1")[0][0])
    assert es["pod"] == "path" and es["namespace"] == "path"


def test_docker_json_file_takes_pod_from_config_v2(cli):
    (cdir,) = (INC / "var/lib/docker/containers").iterdir()
    cfg = json.loads((cdir / "config.v2.json").read_text())
    labels = cfg["Config"]["Labels"]
    cli.ok("ingest", str(cdir / f"{cdir.name}-json.log"), "-q")
    (src,) = cli.sources()
    assert src["format"] == "docker"
    assert src["pod"] == labels["io.kubernetes.pod.name"]
    raw = [json.loads(ln) for ln in (cdir / f"{cdir.name}-json.log").read_text().splitlines()]
    cpu = [int(m.group(1)) for r in raw if (m := re.search(r"(?:^Number of CPUs: |forking )(\d+)", r["log"]))]
    assert cli.sql("SELECT cpu_count, pod FROM events WHERE kind = 'cpu_count'") == [(c, labels["io.kubernetes.pod.name"]) for c in cpu]


def test_java_plain_gz_folds_stack_traces(cli):
    f = require(INC / "translation-service.log.gz")
    text = gzip.decompress(f.read_bytes()).decode()
    n_closed = text.count("java.lang.IllegalStateException: Response is closed")
    cli.ok("ingest", str(f), "-q")
    rows = cli.sql("SELECT line_count, message, service, level FROM events WHERE error_class = 'response_closed'")
    assert len(rows) == n_closed > 0
    for line_count, message, service, level in rows:
        assert line_count > 3 and "\tat " in message and "Caused by:" in message
        assert service == "translation-service" and level == "error"
    access = re.findall(r"^(\S+ \S+) \[[^\]]+\] INFO  \S+ - GET (\S+) (\d{3}) (\d+)ms .*client=(\S+)", text, re.M)
    got = cli.sql("SELECT ts_text, route, status, duration_ms, peer FROM events WHERE kind = 'http_request' ORDER BY line_no")
    assert [(t, int(s), float(d), p) for t, _r, s, d, p in access] == [(t, s, d, p) for t, _r, s, d, p in got]


def test_spans_flat_and_otlp_hold_the_same_spans_once(cli):
    flat = [json.loads(ln) for ln in require(INC / "spans.jsonl").read_text().splitlines()]
    cli.ok("ingest", str(INC / "spans.jsonl"), str(INC / "spans-otlp.json"), "-q")
    a, b = cli.sources()
    assert a["events"] == b["events"] == len(flat)
    assert b["lines_duplicate"] == len(flat)  # for a JSON document: its events another source had
    assert cli.sql("SELECT count(*) FROM events")[0][0] == len(flat)
    cancelled = sum(1 for s in flat if s["status"].get("message") == "context cancelled")
    assert cli.sql("SELECT count(*) FROM events WHERE kind = 'span' AND error_class = 'context_cancelled'")[0][0] == cancelled


def test_pod_objects_give_limits_and_node(cli):
    pods = json.loads(require(INC / "pods.json").read_text())["items"]
    cli.ok("ingest", str(INC / "pods.json"), "-q")
    got = {r[0]: r[1:] for r in cli.sql("SELECT pod, host, attrs->>'cpu_limit', attrs->>'memory_limit' FROM events WHERE kind = 'pod_spec'")}
    for p in pods:
        lim = p["spec"]["containers"][0]["resources"]["limits"]
        host, cpu, mem = got[p["metadata"]["name"]]
        assert host == p["spec"]["nodeName"]
        assert float(cpu) == float(lim["cpu"].rstrip("m")) / (1000 if lim["cpu"].endswith("m") else 1)
        assert int(mem) == int(lim["memory"].removesuffix("Gi")) * 2**30


def test_loki_es_and_plain_kubectl_in_healthy_bundle(cli):
    cli.ok("ingest", str(require(HEALTHY)), "-q")
    srcs = {p.split("/")[-1]: s for p, s in _by_path(cli).items()}
    assert srcs["campaign-loki.jsonl"]["format"] == "loki"
    assert srcs["campaign-elasticsearch.ndjson"]["format"] == "es_ndjson"
    assert srcs["campaign-7f9c6d5b8-t9w4c.log"]["format"] == "kubectl"
    assert srcs["campaign-7f9c6d5b8-t9w4c.log"]["pod"] == "campaign-7f9c6d5b8-t9w4c"  # from the file name
    loki = [json.loads(ln) for ln in (HEALTHY / "campaign-loki.jsonl").read_text().splitlines()]
    es = [json.loads(ln) for ln in (HEALTHY / "campaign-elasticsearch.ndjson").read_text().splitlines()]
    loki_pod = loki[0]["labels"]["pod"]
    es_pod = es[0]["kubernetes"]["pod"]["name"]
    rows = dict(cli.sql("SELECT pod, max(cpu_count) FROM events WHERE kind = 'cpu_count' GROUP BY pod"))
    want_loki = [int(m.group(1)) for r in loki if (m := re.match(r"Number of CPUs: (\d+)", r["line"]))]
    want_es = [int(m.group(1)) for r in es if (m := re.match(r"Number of CPUs: (\d+)", r["message"]))]
    assert rows[loki_pod] == max(want_loki) and rows[es_pod] == max(want_es)
    assert cli.sql("SELECT count(*) FROM events WHERE kind = 'worker_exit'")[0][0] == 0
    # ES timestamps have millisecond precision; Loki keeps nanoseconds (as microseconds)
    (ms,) = cli.sql(f"SELECT min(ts) FROM events WHERE pod = '{es_pod}'")[0]
    assert ms.microsecond % 1000 == 0


def test_flags_label_a_source_without_metadata_and_envelope_wins(cli, tmp_path):
    f = require(INC / "translation-service.log.gz")
    cli.ok("ingest", str(f), "--pod", "translation-5c8d7f6b9-q4w7z", "--host", "ip-10-0-4-21", "-q")
    (src,) = cli.sources()
    assert (src["pod"], src["host"]) == ("translation-5c8d7f6b9-q4w7z", "ip-10-0-4-21")
    assert json.loads(src["entity_source"]) == {"service": "path", "pod": "flag", "host": "flag"}
    # a flag never overrides what the envelope says
    cli.ok("ingest", str(INC / f"{POD48}.log"), "--pod", "wrong-pod-0", "-q")
    assert cli.sql("SELECT DISTINCT pod FROM events WHERE source_id = 2") == [(POD48,)]


def test_user_patterns_from_config_file(cli, tmp_path):
    (tmp_path / "pmortem.toml").write_text(
        """
[[patterns]]
name = "fallback_used"
kind = "translation_fallback"
literals = ["fallbackTranslations"]
regex = '(?i)Translation fetch failed \\(lang=(?P<lang>\\w+)\\): (?P<error_class>context cancelled|read timeout) after (?P<duration_ms>\\d+) ms'
"""
    )
    f = require(INC / f"{POD48}.log")
    want = re.findall(r"Translation fetch failed \(lang=(\w+)\): (context cancelled|read timeout) after (\d+) ms", f.read_text())
    cli.ok("ingest", str(f), "-q")
    got = cli.sql("SELECT attrs->>'lang', error_class, duration_ms FROM events WHERE kind = 'translation_fallback' ORDER BY line_no")
    assert got == [(lang, ec, float(d)) for lang, ec, d in want] and got
    # a broken pattern is a user error, not a traceback
    (tmp_path / "pmortem.toml").write_text('[[patterns]]\nkind = "x"\nregex = "(unclosed"\n')
    res = cli.run("ingest", str(f))
    assert res.exit_code == 2 and "invalid regex" in res.output
