"""`pmortem templates`: the real CLI on real files (a Node service's kubectl logs, a Loghub file)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from conftest import SAMPLES, loghub, require

NODE = Path(__file__).resolve().parents[1] / "fixtures" / "node-inspect"


def test_lists_templates_with_counts(cli):
    api = require(NODE / "api.log")
    res = cli.ok("templates", str(api), "--format", "json", db=False)
    rows = json.loads(res.stdout)
    by = {r["template"]: r for r in rows}
    assert set(by) == {"GET /healthz <*> <*>",
                       "failed to load tenant config Error: ENOENT: no such file or directory, open <*>"}
    lines = api.read_text().splitlines()
    health = sum(" GET /healthz 200 " in ln for ln in lines)
    failed = sum(" failed to load tenant config " in ln for ln in lines)
    assert (by["GET /healthz <*> <*>"]["count"], health) == (78, 78)
    err = by["failed to load tenant config Error: ENOENT: no such file or directory, open <*>"]
    # the stack frames and the error's printed fields count with their event, not as templates
    assert err["count"] == failed == 18
    assert err["continuation_lines"] == len(lines) - health - failed
    ex = err["example"]
    assert ex["source"] == str(api) and "failed to load tenant config" in lines[ex["line"] - 1]
    table = cli.ok("templates", str(api), db=False).stdout
    assert "GET /healthz <*> <*>" in table and "errno" not in table


def test_per_line_csv(cli):
    api = require(NODE / "api.log")
    lines = api.read_text().splitlines()
    out = cli.ok("templates", str(api), "--per-line", db=False).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["line", "template_id", "template"]
    assert [int(r["line"]) for r in rows] == list(range(1, len(lines) + 1))
    ids = {}
    for r, ln in zip(rows, lines, strict=True):
        if " GET /healthz " in ln:
            ids.setdefault("health", r["template_id"])
            assert r["template_id"] == ids["health"]
        elif " failed to load tenant config " in ln:
            ids.setdefault("failed", r["template_id"])
        else:  # a stack frame or a printed field: the id of the error line above it
            assert r["template_id"] == ids["failed"], (r, ln)
    assert ids["health"] != ids["failed"]


def test_per_line_on_a_loghub_file_and_a_gzip_sample(cli):
    hdfs = loghub("HDFS")
    gz = require(SAMPLES / "backpressure" / "ingest-api-6c9d8f7b5-t7v2n.log.gz")
    out = cli.ok("templates", str(hdfs), str(gz), "--per-line", db=False).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["path", "line", "template_id", "template"]
    n_hdfs = len(hdfs.read_text().splitlines())
    assert sum(r["path"] == str(hdfs) for r in rows) == n_hdfs == 2000
    # the JSON logger's message is what is mined: 2,366 forward failures in the sample
    top = json.loads(cli.ok("templates", str(gz), "--format", "json", "--top", "1", db=False).stdout)
    assert top[0]["template"].startswith("forward failed: connect EMFILE") and top[0]["count"] == 2366


def test_missing_path_is_a_user_error(cli, tmp_path):
    res = cli.run("templates", str(tmp_path / "nope.log"), db=False)
    assert res.exit_code == 2 and "nope.log" in res.output
