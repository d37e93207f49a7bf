"""A smaller real run of the founding incident, exported as Elasticsearch `_search` responses.

Runs the campaign service (samples/repro/campaign, Node.js 20) and the Java translation service
(samples/repro/translation, Java 17) for real through scenarios.run() with a scenario defined here
(`es48`: an 8-core control pod and the 48-core pod, 100 s), so every line is a capture
({"ts_ns", "stream", "line"}, stamped on arrival). The capture is shifted so its first line is at
2022-04-08T20:55:00Z (one offset, also applied to the Java log's own logback timestamps).

Written to samples/es-search/:
* `campaign.search.json`, `translation-service.search.json`: what
  `POST filebeat-7.17.1/_search` returns (compact JSON, as Elasticsearch sends it without
  `?pretty`) for the query recorded in the README: one hit per container log line, because
  Filebeat's `container` input without a `multiline` setting ships every line as its own
  document, so a Java stack trace arrives as one document per line. `_source` holds what
  Filebeat 7.17 + add_kubernetes_metadata writes: `@timestamp` (milliseconds), `message`,
  `stream`, `log.offset`, `log.file.path` (/var/log/containers/<pod>_<ns>_<ctr>-<id>.log),
  `input.type`, `kubernetes.pod.name`/`uid`, `kubernetes.namespace`, `kubernetes.container.name`,
  `kubernetes.node.name`, `kubernetes.replicaset.name`, `kubernetes.labels`, `container.*`,
  `agent`, `ecs`, `host`. Hits are sorted by `@timestamp` then `log.offset`, both ascending,
  and carry that `sort` array.
And to samples/es-search-lines/ the same captures as `kubectl logs --timestamps --prefix` files,
one per pod, so a test can check that both exports give the same entities and folded events.

    python samples/repro/es-search/make_es_search.py [RAWDIR]   # RAWDIR: reuse a previous run
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPRO = HERE.parent
SAMPLES = REPRO.parent
OUT, LINES = SAMPLES / "es-search", SAMPLES / "es-search-lines"
sys.path.insert(0, str(REPRO))
import scenarios  # noqa: E402
import wrap  # noqa: E402

START = "2022-04-08T20:55:00Z"
SCENARIO = "es48"
SEC, MS = 1_000_000_000, 1_000_000
PODS = {  # capture key -> pod, namespace, container, node, image
    "translation": (
        "translation-5c8d7f6b9-q4w7z",
        "translation",
        "translation-service",
        "ip-10-0-4-21",
        "registry.example.org/translation/translation-service:3.7.2",
    ),
    "control8": (
        "campaign-7f9c6d5b8-m4h2t",
        "campaign",
        "campaign",
        "ip-10-0-1-42",
        "registry.example.org/campaign/campaign-service:1.42.0",
    ),
    "incident48": (
        "campaign-7f9c6d5b8-x2k9p",
        "campaign",
        "campaign",
        "ip-10-0-3-17",
        "registry.example.org/campaign/campaign-service:1.42.0",
    ),
}
INDEX_DATE = "2022.04.08"
QUERY = {
    "size": 10000,
    "track_total_hits": True,
    "query": {
        "bool": {
            "filter": [
                {"term": {"kubernetes.namespace": "<namespace>"}},
                {"range": {"@timestamp": {"gte": "2022-04-08T20:50:00Z", "lte": "2022-04-08T21:10:00Z"}}},
            ]
        }
    },
    "sort": [{"@timestamp": "asc"}, {"log.offset": "asc"}],
}


def uid_for(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "pmortem-sample/" + name))


def hexid(name: str, n: int = 64) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:n]


def es_id(*parts: str) -> str:
    """A 20-character id like Elasticsearch's auto-generated ones (time-based base64url)."""
    return base64.urlsafe_b64encode(hashlib.sha1("|".join(parts).encode()).digest()[:15]).decode()


def filebeat_sources(key: str, recs: list[dict]) -> list[dict]:
    pod, ns, ctr, node, image = PODS[key]
    cid = hexid(pod + "/" + ctr)
    rs = pod.rsplit("-", 1)[0]
    path = f"/var/log/containers/{pod}_{ns}_{ctr}-{cid}.log"
    offset, docs = 0, []
    for r in recs:
        raw = wrap.cri_lines([r])
        docs.append(
            {
                "@timestamp": wrap.fmt_millis(r["ts_ns"]),
                "agent": {
                    "ephemeral_id": uid_for("agent/" + node),
                    "hostname": node,
                    "id": uid_for("agent-id/" + node),
                    "name": node,
                    "type": "filebeat",
                    "version": "7.17.1",
                },
                "container": {"id": cid, "image": {"name": image}, "runtime": "containerd"},
                "ecs": {"version": "1.12.0"},
                "host": {"name": node},
                "input": {"type": "container"},
                "kubernetes": {
                    "container": {"name": ctr},
                    "labels": {"app": ns, "pod-template-hash": rs.rsplit("-", 1)[1]},
                    "namespace": ns,
                    "namespace_uid": uid_for("ns/" + ns),
                    "node": {
                        "hostname": node,
                        "labels": {"kubernetes_io/hostname": node},
                        "name": node,
                        "uid": uid_for("node/" + node),
                    },
                    "pod": {"name": pod, "uid": uid_for(pod)},
                    "replicaset": {"name": rs},
                },
                "log": {"file": {"path": path}, "offset": offset},
                "message": r["line"],
                "stream": r["stream"],
            }
        )
        offset += sum(len(x) for x in raw)
    return docs


def search_response(sources: list[dict], took: int) -> str:
    hits = []
    for s in sources:
        ms = wrap.parse_rfc3339(s["@timestamp"]) // MS
        hits.append(
            {
                "_index": f"filebeat-7.17.1-{INDEX_DATE}-000001",
                "_type": "_doc",
                "_id": es_id(s["log"]["file"]["path"], str(s["log"]["offset"])),
                "_score": None,
                "_source": s,
                "sort": [ms, s["log"]["offset"]],
            }
        )
    hits.sort(key=lambda h: h["sort"])
    if len(hits) > QUERY["size"]:
        raise SystemExit(f"{len(hits)} hits: more than one page; shorten the run")
    body = {
        "took": took,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": None, "hits": hits},
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------ measuring
RE_START = re.compile(r"^Worker (\d+) started$")
RE_DIED = re.compile(r"^Worker \S+ \(pid: (\d+)\) died \(code: (\S+), signal: (\S+)\)")


def campaign_numbers(recs: list[dict]) -> dict:
    lines = [r["line"] for r in recs]
    deaths = [r for r in recs if RE_DIED.match(r["line"])]
    span = (recs[-1]["ts_ns"] - recs[0]["ts_ns"]) / SEC
    n = {
        "lines": len(recs),
        "first_line": wrap.fmt_go_nano(recs[0]["ts_ns"]),
        "last_line": wrap.fmt_go_nano(recs[-1]["ts_ns"]),
        "active_seconds": round(span, 3),
        "cpu_count_logged": sorted(
            {int(x.split(": ")[1]) for x in lines if x.startswith("Number of CPUs: ")}
        ),
        "worker_starts": sum(1 for x in lines if RE_START.match(x)),
        "worker_deaths": len(deaths),
        "death_signals": sorted({RE_DIED.match(r["line"]).group(3) for r in deaths}),
        "translation_fetches": sum(1 for x in lines if x.startswith("Fetching translations from ")),
        "translations_loaded": sum(1 for x in lines if x.startswith("Translations loaded ")),
        "translation_fetch_failed": sum(1 for x in lines if x.startswith("Translation fetch failed ")),
        "max_event_loop_lag_ms": max(
            [int(x.split()[3]) for x in lines if x.startswith("Event loop lag: ")] or [0]
        ),
    }
    cpu = next((r for r in recs if r["line"].startswith("Number of CPUs: ")), None)
    if cpu:
        n["cpu_line_at"] = wrap.fmt_go_nano(cpu["ts_ns"])
    if deaths:
        n["first_death_at"] = wrap.fmt_go_nano(deaths[0]["ts_ns"])
        n["deaths_per_second_over_active_span"] = round(len(deaths) / span, 2)
        dspan = (deaths[-1]["ts_ns"] - deaths[0]["ts_ns"]) / SEC
        n["deaths_per_second_first_to_last_death"] = round(len(deaths) / dspan, 2) if dspan else None
    return n


def translation_numbers(recs: list[dict]) -> dict:
    lines = [r["line"] for r in recs]
    ok = [x for x in lines if re.search(r" INFO  \S+ - GET /translations\S* 200 ", x)]
    ms = sorted(int(re.search(r" 200 (\d+)ms", x).group(1)) for x in ok)
    errors = [r for r in recs if " ERROR " in r["line"] and wrap.LOGBACK_TS.match(r["line"])]
    return {
        "lines": len(recs),
        "events_after_folding": sum(1 for x in lines if wrap.LOGBACK_TS.match(x))
        + sum(1 for r in recs if r["stream"] == "stderr"),
        "logback_events": sum(1 for x in lines if wrap.LOGBACK_TS.match(x)),
        "stack_trace_lines": sum(
            1 for r in recs if r["stream"] == "stdout" and not wrap.LOGBACK_TS.match(r["line"])
        ),
        "jvm_stderr_lines": sum(1 for r in recs if r["stream"] == "stderr"),
        "requests_200": len(ok),
        "errors_logged": len(errors),
        "response_is_closed": sum(
            1 for x in lines if x == "java.lang.IllegalStateException: Response is closed"
        ),
        "first_error_at": wrap.fmt_go_nano(errors[0]["ts_ns"]) if errors else None,
        "p50_ms": ms[len(ms) // 2] if ms else None,
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None,
    }


def decoy_text(bad: dict, tr: dict, ok: dict) -> str:
    """The feedback-loop red herring, judged from this run's numbers (not from the case text)."""
    lead = (
        (wrap.parse_rfc3339(bad["first_death_at"]) - wrap.parse_rfc3339(tr["first_error_at"])) / SEC
        if bad.get("first_death_at") and tr.get("first_error_at")
        else None
    )
    order = (
        f"translation errors began {lead:.3f} s BEFORE the first death (timeouts of CPU-starved workers, "
        f"not deaths, caused the first ones)"
        if lead and lead > 0
        else f"the first death came {-lead:.3f} s before the first translation error"
        if lead is not None
        else ""
    )
    return (
        f"the feedback loop of translation-fetcher.js (process.exit(1) on a failed fetch) is not on the live "
        f"path: every death is a signal ({', '.join(bad['death_signals'])}), none an exit code 1; the 8-core "
        f"sibling fetched from the same service with {ok['worker_deaths']} deaths; {order}"
    )


def readme(exp: dict) -> str:
    rc = exp["root_cause"]
    mech = rc["mechanism"]
    t = exp["per_entity"][PODS["translation"][0]]
    ok = exp["per_entity"][PODS["control8"][0]]
    rows = "\n".join(
        f"| `{PODS[k][0]}` | `{PODS[k][1]}` | `{PODS[k][2]}` | {PODS[k][3]} | {f} |"
        for k, f in (
            ("incident48", "`campaign.search.json`"),
            ("control8", "`campaign.search.json`"),
            ("translation", "`translation-service.search.json`"),
        )
    )
    return f"""# samples/es-search

A smaller real run of the founding incident (`shared/cases/zalando-2022.md`): the campaign
service (`samples/repro/campaign`, Node.js 20) on an "8-core" and a "48-core" pod, both talking to
the Java 17 translation service (`samples/repro/translation`), run by
`python samples/repro/es-search/make_es_search.py` through `scenarios.run()` (scenario `es48`,
100 s; same emulations as `samples/README.md`: CPU_COUNT, emulated memory-cgroup OOM killer, nice).
Shifted by one offset so the first line is at {START} (also applied to the Java log's own
logback timestamps).

Exported as Elasticsearch returns it: the response body of
`POST filebeat-7.17.1/_search` (compact JSON, no `?pretty`), one file per namespace, with

```json
{json.dumps(QUERY)}
```

Each hit is ONE container log line: Filebeat's `container` input without a `multiline` setting
ships every line as its own document, so each Java stack-trace line (`java.lang.IllegalStateException:
Response is closed`, `\tat ...`, `Caused by: ...`, `\t... 10 more`) is a separate hit whose
`@timestamp` (milliseconds) is its own arrival time. `_source` has Filebeat 7.17 +
add_kubernetes_metadata fields: `kubernetes.pod.name`, `kubernetes.pod.uid`, `kubernetes.namespace`,
`kubernetes.container.name`, `kubernetes.node.name`, `kubernetes.replicaset.name`,
`kubernetes.labels`, `container.id`/`image.name`/`runtime`, `log.file.path`
(`/var/log/containers/<pod>_<ns>_<container>-<id>.log`), `log.offset`, `stream`, `input.type`,
`agent`, `ecs`, `host`. Hits are sorted by `@timestamp`, then `log.offset` (the `sort` array),
`hits.total.relation` is `eq` (fewer than 10,000 hits: one page).

The same captures as `kubectl logs --timestamps --prefix` files are in `samples/es-search-lines/`
(kept in a sibling directory so that ingesting one directory does not read the logs twice): both
must give the same entities and the same folded events (modulo timestamp precision: ms here, ns there).

| pod | namespace | container | node | file |
|---|---|---|---|---|
{rows}

## What a correct report concludes

**Root cause: host shape** of `{rc["entity"]}`: at {rc["onset"]} it logged `Number of CPUs: 48` and
forked 48 workers into a 2Gi pod. **Mechanism: worker death spiral**: from {mech["onset"]} workers are
SIGKILLed (emulated OOM killer) and respawned at once: {mech["worker_deaths"]} deaths, {mech["worker_starts"]}
worker starts, {mech["deaths_per_second_over_active_span"]} deaths/s over the pod's active span
({mech["deaths_per_second_first_to_last_death"]}/s from the first to the last death). The translation service logs {rc["paired_server_errors"]}
`Response is closed` errors (stack traces folded into their ERROR events: {t["errors_logged"]} ERROR events,
{t["stack_trace_lines"]} stack-trace lines). The 8-core sibling `{PODS["control8"][0]}` (logged
`Number of CPUs: {ok["cpu_count_logged"][0] if ok["cpu_count_logged"] else "?"}`) had {ok["worker_deaths"]} deaths:
the healthy control. Decoy: {exp["decoy"]}. `pmortem scan` on either directory should exit 1 and
name `{rc["entity"]}`; the ES export and the line export must give the same findings.

## Key numbers (measured from the shifted captures by the builder; also in `expected.json`)

```json
{json.dumps({"root_cause": rc, "documents": exp["documents"], "per_entity": exp["per_entity"]}, indent=2)}
```
"""


def lines_readme(exp: dict) -> str:
    rows = "\n".join(
        f"| `{PODS[k][0]}.log` | kubectl logs --timestamps --prefix (`[pod/{PODS[k][0]}/{PODS[k][2]}]`) |"
        for k in PODS
    )
    return f"""# samples/es-search-lines

The same captures as `samples/es-search/` (written by the same run of
`samples/repro/es-search/make_es_search.py`), as `kubectl logs --timestamps --prefix` files, one per
pod, so a test can check that the Elasticsearch export and the line export give the same entities
and folded events. Truth and numbers: `samples/es-search/expected.json` and its README.

| file | envelope |
|---|---|
{rows}
"""


def main() -> None:
    raw = Path(sys.argv[1]) if len(sys.argv) > 1 else REPRO / "out"
    if not (raw / SCENARIO / "meta.json").exists():
        scenarios.SCENARIOS[SCENARIO] = ([("control8", 8, 2.0), ("incident48", 48, 4.0)], 100.0)
        scenarios.build_java()
        scenarios.npm_ci()
        scenarios.run(str(raw), SCENARIO)
    d = raw / SCENARIO
    caps = {k: wrap.load_capture(str(d / f"{k}.capture.jsonl")) for k in PODS}
    off = wrap.offset_ns(START, min(r[0]["ts_ns"] for r in caps.values()))
    shifted = {
        k: [dict(r, line=wrap.shift_logback_line(r["line"], off)) for r in wrap.shift(v, off)]
        for k, v in caps.items()
    }
    oom = (
        [json.loads(x) for x in (d / "incident48.oom.jsonl").read_text().splitlines() if x.strip()]
        if (d / "incident48.oom.jsonl").exists()
        else []
    )
    for o in (OUT, LINES):
        if o.exists():
            subprocess.run(["rm", "-rf", str(o)], check=True)
        o.mkdir(parents=True)
    camp = filebeat_sources("control8", shifted["control8"]) + filebeat_sources(
        "incident48", shifted["incident48"]
    )
    (OUT / "campaign.search.json").write_text(search_response(camp, 41))
    (OUT / "translation-service.search.json").write_text(
        search_response(filebeat_sources("translation", shifted["translation"]), 17)
    )
    for k, recs in shifted.items():
        pod, _, ctr, _, _ = PODS[k]
        (LINES / f"{pod}.log").write_text("".join(wrap.kubectl_lines(recs, pod, ctr)))

    nums = {
        PODS[k][0]: (translation_numbers(v) if k == "translation" else campaign_numbers(v))
        for k, v in shifted.items()
    }
    bad = nums[PODS["incident48"][0]]
    expected = {
        "bundle": "es-search",
        "same_logs_as": "es-search-lines",
        "generated_by": "samples/repro/es-search/make_es_search.py",
        "incident": True,
        "entities": {
            PODS[k][0]: {
                "service": PODS[k][0].rsplit("-", 2)[0],
                "namespace": PODS[k][1],
                "container": PODS[k][2],
                "node": PODS[k][3],
            }
            for k in PODS
        },
        "root_cause": {
            "rule": "host_shape_outlier",
            "entity": PODS["incident48"][0],
            "trigger": "the pod logged `Number of CPUs: 48` and forked 48 workers into a 2Gi pod; "
            "its sibling logged 8 and had no deaths",
            "onset": bad.get("cpu_line_at"),
            "cpu_count": 48,
            "mechanism": {
                "rule": "worker_death_spiral",
                "onset": bad.get("first_death_at"),
                "worker_deaths": bad["worker_deaths"],
                "worker_starts": bad["worker_starts"],
                "deaths_per_second_over_active_span": bad.get("deaths_per_second_over_active_span"),
                "deaths_per_second_first_to_last_death": bad.get("deaths_per_second_first_to_last_death"),
                "oom_kills_ground_truth": len(oom),
            },
            "paired_server_errors": nums[PODS["translation"][0]]["response_is_closed"],
        },
        "scan": {"exit_code": 1, "says": "death spiral in campaign-7f9c6d5b8-x2k9p (48 CPUs)"},
        "healthy_entities": [PODS["control8"][0]],
        "decoy": decoy_text(bad, nums[PODS["translation"][0]], nums[PODS["control8"][0]]),
        "per_entity": nums,
        "documents": {
            "campaign.search.json": len(camp),
            "translation-service.search.json": len(shifted["translation"]),
        },
        "time_offset_ns": off,
        "query": QUERY,
    }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    (OUT / "README.md").write_text(readme(expected))
    (LINES / "README.md").write_text(lines_readme(expected))
    print(json.dumps(expected["root_cause"], indent=1), json.dumps(expected["documents"]))


if __name__ == "__main__":
    main()
