"""The rule registry (analyzer/rules/): every rule runs after the rules it reads, ids are unique,
its SQL files exist, its ids are documented, and a new rule is one module plus a registry line."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib.resources import files

import pytest
from conftest import REPO, SAMPLES, require
from pmortem.analyzer import rules
from pmortem.analyzer.context import Context
from pmortem.analyzer.findings import Finding, finding_id
from pmortem.analyzer.rules import REGISTRY, Advice, Rule, rule_ids

FINDING_KEYS = ["id", "rule", "severity", "confidence", "title", "entity", "start", "end", "metrics",
                "confidence_reasons", "evidence", "explains", "sql"]


def test_needs_come_earlier_in_the_registry():
    seen: set[str] = set()
    for rule in REGISTRY:
        missing = set(rule.needs) - seen
        assert not missing, f"{rule.name} needs {missing}: move it after the rules that produce them"
        seen |= set(rule.produces) | set(rule.tests)


def test_ids_are_unique():
    ids = rule_ids()
    assert len(ids) == len(set(ids))
    names = [r.name for r in REGISTRY]
    assert len(names) == len(set(names))
    advice = [a.id for r in REGISTRY for a in r.advice]
    assert len(advice) == len(set(advice))
    for rule in REGISTRY:
        for a in rule.advice:
            assert set(a.rules) <= set(ids), (a.id, a.rules)
        for role in rule.root:
            assert role.rule in rule.produces and role.when in ("cause", "starts_chain", "not_info")


def test_every_query_file_exists_with_a_header():
    for rule in REGISTRY:
        for q in rule.queries:
            sql = files("pmortem.queries").joinpath(f"{q}.sql").read_text(encoding="utf-8")
            assert sql.startswith(f"-- {q}.sql:"), q
            assert re.search(r"Parameters:", sql), q


def test_every_impact_partial_belongs_to_a_rule():
    tdir = files("pmortem.templates").joinpath("rules")
    partials = {p.name for p in tdir.iterdir() if p.name.endswith(".impact.md.j2")}
    wanted = {r.impact_template.removeprefix("rules/") for r in REGISTRY if r.impact_rank is not None}
    assert partials == wanted


def _section(text: str, start: str, end: str, after: int = 0) -> str:
    i = text.index(start, after)
    return text[i: text.index(end, i)]


def test_every_rule_id_is_documented():
    doc = _section((REPO / "analyzer" / "README.md").read_text(), "Rules and their metrics", "\n## ")
    readme = (REPO / "README.md").read_text()
    table = _section(readme, "| failure | bundle |", "\n\n", readme.index("What it recognises today"))
    for rid in rule_ids():
        assert f"`{rid}`" in doc, f"{rid} missing from 'Rules and their metrics' in analyzer/README.md"
        assert f"`{rid}`" in table, f"{rid} missing from the rules column of README.md's table"
    # and no rule is documented that the registry no longer has
    listed = re.findall(r"^- `(\w+)`", doc, flags=re.M)
    assert listed and set(listed) <= set(rule_ids()), set(listed) - set(rule_ids())
    in_table = {c for row in table.splitlines()[2:] for c in re.findall(r"`(\w+)`", row.rsplit("|", 2)[-2])}
    assert in_table == set(rule_ids())


def test_finding_to_dict_is_the_json_shape():
    t = dt.datetime(2022, 4, 8, 20, 56, 19, 500000, tzinfo=dt.UTC)
    f = Finding(rule="r", severity="info", confidence=0.5, confidence_reasons=["why"], title="t password=hunter2",
                entity={"service": "s", "pod": "p"}, start=t, end=None, metrics={"n": 1}, evidence=[], sql={})
    f.assign_id()
    d = f.to_dict(lambda s: s.replace("hunter2", "***"))
    assert list(d) == FINDING_KEYS
    assert d["id"] == finding_id("r", "s", "p", t) and len(d["id"]) == 12
    assert d["start"] == "2022-04-08T20:56:19.500000Z" and d["end"] is None
    assert d["title"] == "t password=***"
    assert d["entity"] == {"service": "s", "pod": "p", "namespace": None, "container": None, "host": None, "pid": None}


# ---- a new rule is one module and a registry line: this one, defined here, is added to the registry


def _exit_count(ctx: Context) -> list[Finding]:
    out = []
    for s in ctx.of("worker_death_spiral"):
        ev = ctx.evidence("worker_exit", pod=s.pod, limit=1, key=f"evidence:exit_count:{s.pod}")
        out.append(Finding(rule="exit_count", severity="info", confidence=0.9, confidence_reasons=["counted"],
                           title=f"{s.pod} lost {s.metrics['deaths']} workers", entity={"service": s.entity["service"], "pod": s.pod},
                           start=s.start, end=s.end, metrics={"deaths": s.metrics["deaths"]}, evidence=ev,
                           sql=ctx.sql_ref(f"evidence:exit_count:{s.pod}")))
    return out


EXIT_COUNT = Rule(
    name="exit_count", produces=("exit_count",), needs=("worker_death_spiral",), queries=("evidence",),
    detect=_exit_count,
    summary=lambda ctx: [f"(exit_count: {len(ctx.of('exit_count'))} pod(s).)"], summary_rank=25,
    advice=(Advice("count_exits", "Count worker exits.", ("exit_count",), rank=15),),
)


@pytest.fixture
def forkbomb_db(cli):
    cli.ok("ingest", str(require(SAMPLES / "forkbomb" / "checkout-6b7f9d8c5-w2x4z.log")), "-q")
    return cli


def test_a_registered_rule_reaches_the_report(forkbomb_db, monkeypatch):
    cli = forkbomb_db
    before = json.loads(cli.ok("report", "--format", "json").stdout)
    monkeypatch.setattr(rules, "REGISTRY", [*REGISTRY, EXIT_COUNT])
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    md = cli.ok("report").stdout

    (spiral,) = [f for f in rep["findings"] if f["rule"] == "worker_death_spiral"]
    (mine,) = [f for f in rep["findings"] if f["rule"] == "exit_count"]
    assert mine["metrics"]["deaths"] == spiral["metrics"]["deaths"] > 0
    assert "exited" in mine["evidence"][0]["text"] and mine["evidence"][0]["source"].endswith(".log")
    assert mine["sql"]["file"] == "queries/evidence.sql"
    # its summary sentence stands after the spiral's (rank 25 > 20), before the precursor's (50)
    s = rep["summary"]
    assert s.index("a death spiral.") < s.index("(exit_count: 1 pod(s).)") < s.index("a crash loop.")
    # its advice stands by its rank: 15, before respawn_backoff's 20
    assert [r["id"] for r in rep["recommendations"]][:2] == ["count_exits", "respawn_backoff"]
    assert rep["recommendations"][0]["findings"] == [mine["id"]]
    # the generic sections show it with no template change
    assert f'<a id="f-{mine["id"]}"></a>\n### ' in md and f"`exit_count` `{mine['id']}`" in md
    # and nothing else moved
    strip = {"findings", "summary", "recommendations", "queries", "command"}
    assert {k: v for k, v in rep.items() if k not in strip} == {k: v for k, v in before.items() if k not in strip}
    assert [f for f in rep["findings"] if f["rule"] != "exit_count"] == before["findings"]
