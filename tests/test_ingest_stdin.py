"""stdin is format-detected like a file: its head is buffered (parsers/readers.py,
STDIN_HEAD_BYTES), detected, and handed to the reader again ahead of the rest.

Every line envelope goes through the real CLI's stdin with a sample from samples/; what is
expected (format, pods, line counts) is read from the sample itself by a simple independent
parse, and what the file gives when ingested by its path must be what stdin gives."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, Cli, require
from pmortem.parsers.readers import STDIN_HEAD_BYTES

INCIDENT = SAMPLES / "incident"
FORMATS = SAMPLES / "formats"
HEALTHY = SAMPLES / "healthy"


def _one(pattern: str) -> Path:
    found = sorted(SAMPLES.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def prefix_pods(path: Path) -> set[str]:
    return {m.group(1) for line in path.read_text().splitlines() if (m := re.match(r"^\[pod/([^/\]]+)/", line))}


def loki_pods(path: Path) -> set[str]:
    return {json.loads(line)["labels"]["pod"] for line in path.read_text().splitlines() if line.strip()}


def es_pods(path: Path) -> set[str]:
    return {json.loads(line)["kubernetes"]["pod"]["name"] for line in path.read_text().splitlines() if line.strip()}


# envelope, sample, the pods its lines name (None: its lines name none)
CASES = [
    ("kubectl_prefix", INCIDENT / "campaign-7f9c6d5b8-x2k9p.log", prefix_pods),
    ("kubectl", FORMATS / "kubectl" / "checkout-7d9f8b6c4-qx2lp.log", None),
    ("cri", "formats/cri/var/log/pods/*/checkout/0.log", None),
    ("docker", "incident/var/lib/docker/containers/*/*-json.log", None),
    ("loki", HEALTHY / "campaign-loki.jsonl", loki_pods),
    ("es_ndjson", HEALTHY / "campaign-elasticsearch.ndjson", es_pods),
    ("otel_span_ndjson", INCIDENT / "spans.jsonl", None),
    ("plain", FORMATS / "node" / "pino-iso.log", None),
]


def sample(where) -> Path:
    return require(where) if isinstance(where, Path) else _one(where)


def source_row(cli: Cli, path: str) -> dict:
    rows = [s for s in cli.sources() if s["path"] == path]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize(("envelope", "where", "pods_of"), CASES, ids=[c[0] for c in CASES])
def test_every_envelope_through_stdin_is_detected(cli, tmp_path, envelope, where, pods_of):
    path = sample(where)
    data = path.read_bytes()
    cli.ok("ingest", "-", "-q", input=data)
    src = source_row(cli, "-")
    assert src["format"] == envelope, src
    assert src["status"] == "complete", src
    # every line of the input was read: the buffered head and the rest, once each
    assert src["lines"] == data.count(b"\n") + (0 if data.endswith(b"\n") else 1), src
    sid = src["source_id"]
    got_pods = {r[0] for r in cli.sql(f"SELECT DISTINCT pod FROM line_index WHERE source_id = {sid} AND pod IS NOT NULL")}
    got_pods |= {r[0] for r in cli.sql(f"SELECT DISTINCT pod FROM events WHERE source_id = {sid} AND pod IS NOT NULL")}
    if pods_of is not None:
        want = pods_of(path)
        assert want and got_pods == want
        assert set(src["pod"].split(", ")) == want, src

    # the same file by its path (another database): the same lines, events and rejects
    by_path = Cli(tmp_path / "by-path")
    by_path.tmp.mkdir()
    by_path.db = str(by_path.tmp / "p.duckdb")
    by_path.ok("ingest", str(path), "-q")
    ref = source_row(by_path, str(path))
    assert ref["format"] == envelope
    for k in ("lines", "lines_parsed", "lines_rejected", "lines_folded", "events", "first_ts", "last_ts"):
        assert src[k] == ref[k], (k, src[k], ref[k])


def test_stdin_longer_than_its_buffered_head_is_read_whole(cli):
    """The Elasticsearch export is over twice the buffered head: the line cut at the head's
    end is not looked at for detection, and is read whole from the replay."""
    path = HEALTHY / "campaign-elasticsearch.ndjson"
    data = require(path).read_bytes()
    assert len(data) > 2 * STDIN_HEAD_BYTES and data[STDIN_HEAD_BYTES - 1 : STDIN_HEAD_BYTES] != b"\n"
    cli.ok("ingest", "-", "-q", input=data)
    src = source_row(cli, "-")
    assert src["format"] == "es_ndjson" and src["lines_rejected"] == 0, src


def test_kubectl_prefix_piped_into_the_real_command(tmp_path):
    """`kubectl logs --prefix --timestamps | pmortem ingest -`, through a real pipe: the pod
    and container come from the prefix."""
    path = require(INCIDENT / "campaign-7f9c6d5b8-x2k9p.log")
    first = re.match(r"^\[pod/([^/\]]+)/([^\]]+)\]", path.read_text().split("\n", 1)[0])
    db = tmp_path / "pipe.duckdb"
    cmd = [sys.executable, "-c", "from pmortem.cli import main; main()"]
    p = subprocess.Popen([*cmd, "ingest", "-", "--db", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=tmp_path)
    _, err = p.communicate(path.read_bytes(), timeout=120)
    assert p.returncode == 0, err
    assert b"kubectl_prefix" in err
    out = subprocess.run([*cmd, "sources", "--db", str(db), "--format", "json"], capture_output=True, text=True, cwd=tmp_path)
    (src,) = json.loads(out.stdout)
    assert src["format"] == "kubectl_prefix"
    assert src["pod"] == first.group(1) and src["container"] == first.group(2), src


def test_an_empty_stdin_is_an_empty_plain_source(cli):
    cli.ok("ingest", "-", "-q", input=b"")
    src = source_row(cli, "-")
    assert src["format"] == "plain" and src["lines"] == 0, src
