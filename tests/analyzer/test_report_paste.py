"""Issue 14 (part): a report people paste. `--sql inline|appendix|none` and `--format html`.

Real CLI on the bundled samples (samples/incident + samples/history, samples/forkbomb)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
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


# ------------------------------------------------------------------------------------------ HTML
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Page(HTMLParser):
    """Tags, attributes and text of a page; fails on unbalanced block structure."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag not in {"meta", "br", "hr", "img", "input", "link", "line", "polyline", "col"}:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <hr />, <line ... />
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    assert p.stack == [], p.stack
    return p


def _check_html(page: str, report: dict) -> _Page:
    assert page.startswith("<!doctype html>")
    p = _parse(page)
    # self-contained: no script, no external style, font, frame or image; nothing fetched
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(p.tags), set(p.tags)
    for tag, k, v in p.attrs:
        assert not re.match(r"\s*(https?:|//|javascript:)", v, re.I), (tag, k, v)
    assert "@import" not in page and "url(" not in page
    text = re.sub(r"\s+", " ", "".join(p.text))
    root = next(f for f in report["findings"] if f["id"] == report["root_cause"])
    assert re.sub(r"\s+", " ", root["title"]) in text
    # the chain is visible as a list, every link of it
    if report["chain"]:
        for c in report["chain"]:
            assert f"{c['cause']} → " in text
    assert "```sql" not in text and "```mermaid" not in text and "language-mermaid" not in page
    return p


def _render_in_chromium(path: Path) -> str:
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            # no network: the page must not need it, and the machine refuses it
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={path.parent / 'chromium-profile'}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout


@pytest.fixture(scope="module")
def forkbomb(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("paste_forkbomb")
    db = str(tmp / "t.duckdb")
    _invoke("ingest", str(require(SAMPLES / "forkbomb")), "--db", db, "-q")
    return {"db": db, "tmp": tmp, "report": json.loads(_report(db, tmp, "--format", "json"))}


@pytest.mark.parametrize("name", ["incident", "forkbomb"])
def test_html_is_one_self_contained_page(name, request):
    b = request.getfixturevalue(name)
    assert b["report"]["root_cause"]
    page = _report(b["db"], b["tmp"], "--format", "html")
    p = _check_html(page, b["report"])
    # the timeline chart is drawn in the page (inline SVG)
    assert "svg" in p.tags and "polyline" in p.tags
    # the default (appendix) places each query once; --sql none leaves it out of the page too
    assert page.count("<h2>Appendix: SQL</h2>") == 1
    assert "SELECT" not in _report(b["db"], b["tmp"], "--format", "html", "--sql", "none")
    if CHROMIUM:  # the page renders in a real browser, offline
        path = b["tmp"] / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        dom = _render_in_chromium(path)
        root = next(f for f in b["report"]["findings"] if f["id"] == b["report"]["root_cause"])
        assert "<h2>Causal chain</h2>" in dom and html.escape(root["title"], quote=False) in dom, dom[-2000:]


def test_html_keeps_hostile_log_text_as_text(golden):
    """The golden events quote `<script>`, a javascript: link and a credential: text, not markup."""
    out = golden["dir"] / "g.html"
    _invoke("report", "--db", str(golden["db"]), "--format", "html", "--out", str(out))
    page = out.read_text(encoding="utf-8")
    p = _check_html(page, golden["report"])
    text = "".join(p.text)
    assert "<script>alert(1)</script>" in text  # shown, escaped in the source
    assert "<script>" not in page and "hunter2" not in page
