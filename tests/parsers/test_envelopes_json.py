"""Docker json-file and Loki envelopes: one JSON parse per line (`json_decode` into a struct)
gives what a `json_path_match` per field gives, on the real exports and on broken lines."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from conftest import SAMPLES, require
from pmortem.parsers.envelopes import split_envelope


def _oracle(lines: list[str], envelope: str) -> pl.DataFrame:
    """The field-by-field formulation (json_path_match), null where a line has no such field."""
    line = pl.col("line")
    df = pl.DataFrame({"line": lines}, schema={"line": pl.String})
    if envelope == "docker":
        return df.select(
            line.str.json_path_match("$.log").str.strip_suffix("\n").alias("log"),
            line.str.json_path_match("$.time").alias("env_ts_text"),
            line.str.json_path_match("$.stream").alias("stream"),
        )
    lab = line.str.json_path_match("$.labels")

    def label(name: str, *keys: str) -> pl.Expr:
        return pl.coalesce(*[lab.str.json_path_match(f"$.{k}") for k in keys]).alias(name)

    return df.select(
        line.str.json_path_match("$.line").alias("log"),
        line.str.json_path_match("$.timestamp").alias("env_ts_text"),
        label("env_pod", "pod", "pod_name", "k8s_pod_name"),
        label("env_container", "container", "container_name"),
        label("env_namespace", "namespace", "k8s_namespace_name"),
        label("env_host", "node_name", "node", "host", "hostname"),
        label("env_service", "app", "service_name", "service", "job"),
        label("stream", "stream"),
    )


def _split(lines: list[str], envelope: str) -> pl.DataFrame:
    df = split_envelope(pl.DataFrame({"line": lines}, schema={"line": pl.String}), envelope)
    cols = ["env_ts_text", "stream"] if envelope == "docker" else ["env_ts_text", "env_pod", "env_container", "env_namespace", "env_host", "env_service", "stream"]
    return df.select(pl.when(pl.col("env_ok")).then(pl.col("payload")).alias("log"), *cols)


def _docker_lines() -> list[str]:
    d = SAMPLES / "incident" / "var" / "lib" / "docker" / "containers"
    files = sorted(d.glob("*/*-json.log"))
    assert files, f"no Docker json-file sample under {d}"
    return files[0].read_text().splitlines()


def _loki_lines() -> list[str]:
    return gzip.decompress(require(SAMPLES / "history" / "campaign-startup-30d.jsonl.gz").read_bytes()).decode().splitlines()


BROKEN = [
    '{"log":{"nested":1},"stream":"stdout","time":"2022-04-08T20:55:00Z"}',  # an object where text belongs
    '[1,2,3]',
    'not json at all',
    '{"log":"half a line',
    '',
]


@pytest.mark.parametrize("envelope", ["docker", "loki"])
@pytest.mark.parametrize("broken", [False, True])
def test_one_parse_per_line_equals_a_path_match_per_field(envelope: str, broken: bool):
    lines = _docker_lines() if envelope == "docker" else _loki_lines()
    assert len(lines) > 100
    if broken:  # one bad line makes json_decode refuse the chunk: the field-by-field way takes it
        lines = lines[:50] + BROKEN + lines[50:]
    got, want = _split(lines, envelope), _oracle(lines, envelope)
    ok = want.get_column("log").is_not_null() & want.get_column("env_ts_text").is_not_null()
    want = want.with_columns(pl.when(pl.Series(ok)).then(pl.col("log")).alias("log"))
    assert got.to_dicts() == want.to_dicts()
    # broken lines fit no envelope (an object where the text belongs is read as its JSON text)
    n_unfit = 0 if not broken else len(BROKEN) - (1 if envelope == "docker" else 0)
    assert got.get_column("log").null_count() == n_unfit
    if envelope == "loki" and not broken:  # the sample's labels are really read, not all null
        assert got.get_column("env_pod").null_count() == 0 and got.get_column("env_namespace").null_count() == 0


def test_values_of_other_shapes_read_as_text_as_before():
    rows = [
        {"log": 5, "stream": "stdout", "time": "2022-04-08T20:55:00Z"},
        {"log": True, "stream": "stderr", "time": "2022-04-08T20:55:01Z"},
        {"log": "caf\u00e9 \U0001f600\n", "time": "2022-04-08T20:55:02Z", "attrs": {"tag": "x"}},
        {"log": None, "time": "2022-04-08T20:55:03Z"},
        {"stream": "stdout", "time": "2022-04-08T20:55:04Z"},
    ]
    lines = [json.dumps(r) for r in rows]  # json.dumps escapes non-ASCII as \\uXXXX, as Go may
    got, want = _split(lines, "docker"), _oracle(lines, "docker")
    want = want.with_columns(pl.when(pl.col("log").is_not_null() & pl.col("env_ts_text").is_not_null()).then(pl.col("log")).alias("log"))
    assert got.to_dicts() == want.to_dicts()
    assert got.get_column("log").to_list()[:3] == ["5", "true", "caf\u00e9 \U0001f600"]

