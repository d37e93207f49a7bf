"""A dependency called by address is told by name: learned from spans, or set in [peers]."""

from __future__ import annotations

import json

from conftest import SAMPLES, require


def _amp(cli) -> dict:
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    (amp,) = [f for f in rep["findings"] if f["rule"] == "request_amplification"]
    return amp


def test_peer_named_by_spans_then_by_config(cli, tmp_path):
    inc = require(SAMPLES / "incident")
    spans = [json.loads(x) for x in (inc / "spans.jsonl").read_text().splitlines()]
    url_hosts = {s["attributes"]["http.url"].split("/")[2].split(":")[0]: s["attributes"]["peer.service"] for s in spans}
    cli.ok("ingest", str(inc), "-q")
    amp = _amp(cli)
    peer = amp["metrics"]["peer"]
    assert amp["metrics"]["peer_service"] == url_hosts[peer]
    assert f"{url_hosts[peer]} ({peer})" in amp["title"]
    (tmp_path / "pmortem.toml").write_text(f'[peers]\n"{peer}" = "translations-from-config"\n')
    assert "translations-from-config" in _amp(cli)["title"]
    (tmp_path / "pmortem.toml").write_text('peers = "oops"\n')
    res = cli.run("report")
    assert res.exit_code == 2 and "[peers]" in res.output
