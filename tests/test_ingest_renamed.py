"""Entities that survive how people save files (issue 12, "What to build" 1).

samples/renamed: four real captures saved under arbitrary names. Which pod and service each
file is, is read from the bundle's own expected.json (written by its builder from the
capture), never from pmortem; the lines' own names are checked from the raw files here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import duckdb
from conftest import REPO, SAMPLES, require

RENAMED = SAMPLES / "renamed"
SFX = "[bcdfghjklmnpqrstvwxz2456789]"


def _truth() -> dict:
    return json.loads(require(RENAMED / "expected.json").read_text())["file_to_entity"]


def _deployment(pod: str) -> str:
    """<deployment>-<replicaset hash>-<5 chars>, computed here from the README's pod name."""
    m = re.fullmatch(rf"(.+)-{SFX}{{6,10}}-{SFX}{{5}}", pod)
    assert m, pod
    return m.group(1)


def _ingest_renamed(cli) -> dict[str, dict]:
    truth = _truth()
    files = [str(RENAMED / name) for name in truth]
    cli.ok("ingest", *files, "-q")
    return {s["path"].rsplit("/", 1)[-1]: s for s in cli.sources()}


def test_every_renamed_file_maps_to_the_pod_and_service_its_readme_names(cli):
    truth = _truth()
    srcs = _ingest_renamed(cli)
    assert set(srcs) == set(truth)
    for name, want in truth.items():
        src = srcs[name]
        sid = src["source_id"]
        # the source, its events and its line index all name the README's pod, and only it
        assert src["pod"] == want["entity"], (name, src)
        assert cli.sql(f"SELECT DISTINCT pod FROM events WHERE source_id = {sid}") == [(want["entity"],)], name
        assert cli.sql(f"SELECT DISTINCT pod FROM line_index WHERE source_id = {sid}") == [(want["entity"],)], name
        # service: the pod's deployment (ingress-nginx's controller Deployment is
        # `ingress-nginx-controller`; the README names its app, `ingress-nginx`), never the file's name
        services = {r[0] for r in cli.sql(f"SELECT DISTINCT service FROM events WHERE source_id = {sid}")}
        assert services == {src["service"]}, (name, services, src["service"])
        assert src["service"] in {want["service"], _deployment(want["entity"])}, (name, src["service"], want)
        assert not name.startswith(src["service"] + ".")  # `export.log` -> not `export`; `reports-old.log` -> not `reports-old`
    # reports files: exactly the README's service
    assert {srcs[n]["service"] for n, w in truth.items() if w["service"] == "reports"} == {"reports"}
    # four distinct entities, none with a numeric prefix
    pods = {r[0] for r in cli.sql("SELECT DISTINCT pod FROM events")}
    assert len(pods) == json.loads((RENAMED / "expected.json").read_text())["distinct_entities"] == 4
    assert not any(re.match(r"\d+[_-]", p) for p in pods)


def test_the_lines_names_are_what_the_raw_files_say(cli):
    """export.log's `[pod/<pod>/<container>]` prefix and reports-old.log's pino hostname, read here."""
    srcs = _ingest_renamed(cli)
    prefix = {m.group(1) for ln in (RENAMED / "export.log").read_text().splitlines() if (m := re.match(r"\[pod/([^/]+)/", ln))}
    hosts = set()
    for ln in (RENAMED / "reports-old.log").read_text().splitlines():
        body = ln.split(" ", 1)[1]
        if body.startswith("{"):
            hosts.add(json.loads(body)["hostname"])
    assert {srcs["export.log"]["pod"]} == prefix
    assert {srcs["reports-old.log"]["pod"]} == hosts


def test_a_source_whose_lines_name_no_pod_is_its_own_entity(cli, tmp_path):
    """Two files whose lines name no pod: each its own entity named after its file, never one
    blank entity; a crash loop in `01_<name>.log` is counted by the per-pod analysis."""
    src = require(SAMPLES / "forkbomb" / "checkout-6b7f9d8c5-w2x4z.log")
    lines = [re.sub(r"^\[pod/[^\]]+\] ", "", ln) for ln in src.read_text().splitlines()]
    exits = sum(bool(re.search(r"Worker \d+ exited \(code: ", ln)) for ln in lines)
    assert exits > 100
    d = tmp_path / "saved"
    d.mkdir()
    (d / "01_crashy.log").write_text("\n".join(lines) + "\n")
    (d / "02_other.log").write_text("\n".join(lines[:5]) + "\n")
    cli.ok("ingest", str(d), "-q")
    srcs = {s["path"].rsplit("/", 1)[-1]: s for s in cli.sources()}
    assert srcs["01_crashy.log"]["pod"] == "crashy" and srcs["02_other.log"]["pod"] == "other"
    assert cli.sql("SELECT count(*) FROM events WHERE pod IS NULL") == [(0,)]
    assert cli.sql("SELECT count(*) FROM line_index WHERE pod IS NULL") == [(0,)]
    sql = (REPO / "queries" / "worker_lifecycle.sql").read_text()
    con = duckdb.connect(cli.db, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(sql, {"since": datetime(2000, 1, 1, tzinfo=UTC), "until": datetime(2100, 1, 1, tzinfo=UTC), "service": None})
        cols = [c[0] for c in rows.description]
        got = {r[cols.index("pod")]: r[cols.index("exits")] for r in rows.fetchall()}
    finally:
        con.close()
    assert got["crashy"] == exits


def test_a_renamed_copy_of_a_pod_directory_still_names_the_pod(cli, tmp_path):
    """The pod's name in a directory (`<pod>/app.log`) or behind a date prefix and before a copy suffix."""
    src = require(SAMPLES / "forkbomb" / "checkout-6b7f9d8c5-w2x4z.log")
    lines = [re.sub(r"^\[pod/[^\]]+\] ", "", ln) for ln in src.read_text().splitlines()]
    (tmp_path / "checkout-6b7f9d8c5-w2x4z").mkdir()
    (tmp_path / "checkout-6b7f9d8c5-w2x4z" / "app.log").write_text("\n".join(lines[:20]) + "\n")
    (tmp_path / "2022-05-10_checkout-6b7f9d8c5-q4w7z.previous.log").write_text("\n".join(lines[20:40]) + "\n")
    cli.ok("ingest", str(tmp_path / "checkout-6b7f9d8c5-w2x4z" / "app.log"), str(tmp_path / "2022-05-10_checkout-6b7f9d8c5-q4w7z.previous.log"), "-q")
    got = {s["path"].rsplit("/", 1)[-1]: (s["pod"], s["service"]) for s in cli.sources()}
    assert got == {"app.log": ("checkout-6b7f9d8c5-w2x4z", "checkout"),
                   "2022-05-10_checkout-6b7f9d8c5-q4w7z.previous.log": ("checkout-6b7f9d8c5-q4w7z", "checkout")}
