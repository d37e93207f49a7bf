"""Issue 14 (part): a report people paste. `--sql inline|appendix|none` and `--format html`.

Real CLI on the bundled samples (samples/incident + samples/history, samples/forkbomb)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, require

from pmortem.cli import main


def _invoke(*argv: str) -> str:
    res = CliRunner().invoke(main, list(argv), catch_exceptions=False)
    assert res.exit_code == 0, (argv, res.exit_code, res.output)
    return res.output


def _report(db: str, tmp: Path, *opts: str) -> str:
    out = tmp / f"r{abs(hash(opts))}.out"
    _invoke("report", "--db", db, "--out", str(out), *opts)
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def incident(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("paste_incident")
    db = str(tmp / "t.duckdb")
    _invoke("ingest", str(require(SAMPLES / "incident")), str(require(SAMPLES / "history")), "--db", db, "-q")
    rep = json.loads(_report(db, tmp, "--format", "json"))
    return {"db": db, "tmp": tmp, "report": rep}


def _sql_blocks(md: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"\n(`{3,})sql\n(.*?)\n\1\n", md, re.S)]


def test_sql_appendix_is_the_default_and_each_query_is_printed_once(incident):
    tmp, db, rep = incident["tmp"], incident["db"], incident["report"]
    default = _report(db, tmp)
    assert default == _report(db, tmp, "--sql", "appendix")
    inline = _report(db, tmp, "--sql", "inline")
    cited = {x["sql"]["file"]: x["sql"]["text"] for x in rep["findings"] + rep["hypotheses"]}
    assert len(cited) >= 5
    # inline: one block per finding and hypothesis, some queries repeated
    assert len(_sql_blocks(inline)) == len(rep["findings"]) + len(rep["hypotheses"])
    # appendix: one block per cited query, after every finding, and no <details> SQL
    blocks = _sql_blocks(default)
    assert len(blocks) == len(cited)
    assert "<summary>SQL" not in default
    app = default.index("## Appendix: SQL")
    assert app > default.index("## Evidence") and app > default.index("## Hypotheses tested")
    for file, text in cited.items():
        body = [b for b in blocks if b.splitlines()[0] == text.splitlines()[0]]
        assert len(body) == 1, file
        # the executable part of the file is all there (the header comment past its first line is not)
        code = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("--")]
        assert all(ln in body[0].splitlines() for ln in code), file
        anchor = "sql-" + Path(file).stem
        assert f'<a id="{anchor}"></a>' in default[app:]
    # every finding names its query and its parameters in one line pointing at the appendix
    refs = re.findall(r"^SQL: `(queries/[\w.]+)` \(\[appendix\]\(#(sql-\w+)\)\)(.*)$", default, re.M)
    assert len(refs) == len(rep["findings"]) + len(rep["hypotheses"])
    for f, (file, anchor, params) in zip(rep["findings"] + rep["hypotheses"], refs, strict=True):
        assert file == f["sql"]["file"] and anchor == "sql-" + Path(file).stem
        for k in f["sql"]["params"]:
            assert f"`${k} = " in params
    # much shorter than inline (each query text once, no header comments)
    n_def, n_inl = default.count("\n"), inline.count("\n")
    print(f"incident markdown lines: default(appendix)={n_def} inline={n_inl}")
    assert n_def < 0.85 * n_inl


def test_sql_none_has_no_sql_but_the_json_keeps_it(incident):
    tmp, db, rep = incident["tmp"], incident["db"], incident["report"]
    none = _report(db, tmp, "--sql", "none")
    assert "```sql" not in none and "Appendix: SQL" not in none and "SELECT" not in none
    assert "queries/" not in none
    # the rest of the report is there
    for f in rep["findings"]:
        assert f"`{f['id']}`" in none
    assert none.count("\n") < _report(db, tmp).count("\n")
    assert all(f["sql"]["text"] for f in rep["findings"])
    assert rep["queries"]
