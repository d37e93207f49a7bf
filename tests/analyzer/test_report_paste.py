"""Issue 14: a report people paste. The SQL in a sidecar file (or `--sql inline|appendix|none`),
escaping by context, a short summary, `--skeleton`, and `--format html`.

Real CLI on the bundled samples (samples/incident + samples/history, samples/forkbomb)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SAMPLES, require
from pmortem.analyzer.render import people, trim_ts
from pmortem.analyzer.sqlrun import substituted

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


def _cited(rep: dict) -> dict[str, str]:
    """file -> text of every query a finding or hypothesis cites (the JSON keeps each text once)."""
    return {x["sql"]["file"]: rep["sql_files"][x["sql"]["file"]] for x in rep["findings"] + rep["hypotheses"]}


def _sidecar_queries(sql: str) -> dict[str, dict]:
    """name -> {file, users: [ids], body} from a sidecar file."""
    out: dict[str, dict] = {}
    for part in re.split(r"^-- =+\n(?=-- query: )", sql, flags=re.M)[1:]:
        head, _, body = part.partition("\n-- " + "=" * 96 + "\n")
        m = re.match(r"-- query: (\w+) \((queries/[\w.]+)\)", head)
        assert m, head[:200]
        assert m.group(1) not in out, f"query {m.group(1)} printed twice"
        users = re.findall(r"^-- used by (?:finding (\w+)|hypothesis (\w+)):", head, re.M)
        out[m.group(1)] = {"file": m.group(2), "users": [a or b for a, b in users], "body": body}
    return out


def test_default_with_out_writes_the_sql_beside_the_report_each_query_once(incident):
    tmp, db, rep = incident["tmp"], incident["db"], incident["report"]
    out = tmp / "postmortem.md"
    res = CliRunner().invoke(main, ["report", "--db", db, "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    side = tmp / "postmortem.sql"
    assert f"wrote {out} and {side}" in res.output
    md, sql = out.read_text(encoding="utf-8"), side.read_text(encoding="utf-8")
    # acceptance: the default Markdown of the bundled incident is short, and carries no SQL text
    n = md.count("\n")
    print(f"incident markdown lines: default={n}")
    assert n < 450, n
    assert "```sql" not in md and "SELECT" not in md and "Appendix: SQL" not in md
    queries = _sidecar_queries(sql)
    cited = _cited(rep)
    assert {q["file"] for q in queries.values()} == set(cited)
    assert len(queries) == len(cited) >= 5
    by_id = {f["id"]: f for f in rep["findings"]}
    refs = re.findall(r"^SQL: query `(\w+)` in `postmortem\.sql`(.*)\.$", md, re.M)
    items = rep["findings"] + rep["hypotheses"]
    assert len(refs) == len(items)
    con = duckdb.connect(db, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        for item, (name, params) in zip(items, refs, strict=True):
            q = queries[name]
            assert q["file"] == item["sql"]["file"]
            assert (item.get("id") or item["rule"]) in q["users"]
            # parameters other than the window's are named in the reference
            for k in item["sql"]["params"]:
                if k not in ("since", "until"):
                    assert f"`${k} = " in params, (name, k)
            # the query as printed in the sidecar runs with the finding's parameters
            con.execute(substituted(q["body"], item["sql"]["params"])).fetchall()
    finally:
        con.close()
    for f in by_id:
        assert f in sql  # every finding is named in the header of its query
    # the executable part of each query file is all there
    for name, q in queries.items():
        code = [ln for ln in cited[q["file"]].splitlines() if ln.strip() and not ln.lstrip().startswith("--")]
        assert all(ln in q["body"].splitlines() for ln in code[:-1]), name


def test_sidecar_names_and_refusals(incident, tmp_path):
    db = incident["db"]
    res = CliRunner().invoke(main, ["report", "--db", db, "--sql", "sidecar"])
    assert res.exit_code == 2 and "--sql sidecar needs --out" in res.output
    out = tmp_path / "pm.html"
    _invoke("report", "--db", db, "--format", "html", "--sql", "sidecar", "--out", str(out))
    assert (tmp_path / "pm.sql").exists() and "pm.sql" in out.read_text(encoding="utf-8")
    out = tmp_path / "notes.txt"
    _invoke("report", "--db", db, "--sql", "sidecar", "--out", str(out))
    assert (tmp_path / "notes.txt.sql").exists()


def test_stdout_default_has_no_sql_and_says_how_to_get_it(incident):
    db, rep = incident["db"], incident["report"]
    md = _invoke("report", "--db", db)
    assert "```sql" not in md and "SELECT" not in md and "queries/" not in md
    hint = [ln for ln in md.splitlines() if ln.startswith("SQL behind each finding")]
    assert len(hint) == 1 and "--sql appendix" in hint[0] and "--out" in hint[0]
    # explicit --sql none: no pointer
    none = _invoke("report", "--db", db, "--sql", "none")
    assert "SQL behind each finding" not in none and "SELECT" not in none
    for f in rep["findings"]:
        assert f"`{f['id']}`" in none


def test_appendix_and_inline_still_print_each_query(incident):
    tmp, db, rep = incident["tmp"], incident["db"], incident["report"]
    appendix = _report(db, tmp, "--sql", "appendix")
    inline = _report(db, tmp, "--sql", "inline")
    cited = _cited(rep)
    assert len(_sql_blocks(inline)) == len(rep["findings"]) + len(rep["hypotheses"])
    blocks = _sql_blocks(appendix)
    assert len(blocks) == len(cited)
    app = appendix.index("## Appendix: SQL")
    assert app > appendix.index("## Evidence") and app > appendix.index("## Hypotheses tested")
    for file, text in cited.items():
        body = [b for b in blocks if b.splitlines()[0] == text.splitlines()[0]]
        assert len(body) == 1, file
        assert f'<a id="sql-{Path(file).stem}"></a>' in appendix[app:]
    refs = re.findall(r"^SQL: `(queries/[\w.]+)` \(\[appendix\]\(#(sql-\w+)\)\)(.*)$", appendix, re.M)
    assert len(refs) == len(rep["findings"]) + len(rep["hypotheses"])


def test_json_keeps_each_query_text_once(incident):
    rep = incident["report"]
    files = rep["sql_files"]
    assert files and all(isinstance(t, str) and t for t in files.values())
    refs = [x["sql"] for x in rep["findings"] + rep["hypotheses"]] + list(rep["queries"].values())
    for q in refs:
        assert "text" not in q and q["file"] in files
    assert set(files) == {q["file"] for q in refs}
    raw = json.dumps(rep)
    for text in files.values():
        assert raw.count(json.dumps(text)) == 1
    # each text is the query file as shipped
    root = Path(__file__).resolve().parents[2]
    for file, text in files.items():
        assert (root / file).read_text(encoding="utf-8") == text


def _prose(md: str) -> str:
    md = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", md)
    return re.sub(r"(`+).*?\1", "", md)


def test_raw_markdown_reads_as_text(incident):
    tmp, db, rep = incident["tmp"], incident["db"], incident["report"]
    md = _report(db, tmp)
    prose = _prose(md)
    # acceptance: no backslash before '-', '.' or '(' in prose (escaping by context)
    assert not re.findall(r"\\[-.(]", prose), re.findall(r".{20}\\[-.(].{20}", prose)[:5]
    assert prose.count("\\") < 20, re.findall(r".{15}\\.{15}", prose)[:10]
    # no Python reprs, and timestamps without trailing zero fractions
    for bad in (r"\bNone\b", r"\bFalse\b", r"\bTrue\b", r"\{'", r"\['"):
        assert not re.search(bad, prose), bad
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d*0Z", md)
    # a summary of 4-6 short bullets
    summary = md[md.index("## Summary"): md.index("## Impact")]
    bullets = [ln for ln in summary.splitlines() if ln.startswith("- ")]
    assert 4 <= len(bullets) <= 6, bullets
    assert all(len(b) < 700 for b in bullets)
    # findings are named by their titles, linked to their headings; no bare hashes as names
    for f in rep["findings"]:
        assert f'<a id="f-{f["id"]}"></a>\n### ' in md
    assert "Root cause finding:" not in md and "(from `" not in md
    root = rep["root_cause"]
    assert re.search(r"^- Root cause: \[[^\n]+\]\(#f-" + root + r"\)", summary, re.M)
    # coverage: only sources with gaps, and one line for the rest
    cov = md[md.index("## Coverage"):]
    cov = cov[: cov.index("\n## ") if "\n## " in cov else cov.index("\n---")]
    gaps = [c for c in rep["coverage"] if c["gaps"]]
    assert len(re.findall(r"^\| (?!service|---)", cov, re.M)) == len(gaps) < len(rep["coverage"])
    assert "have no gap" in cov or "no gaps" in cov


def test_skeleton_adds_the_human_sections_prefilled_from_the_logs(incident):
    tmp, db, rep = incident["tmp"], incident["db"], incident["report"]
    plain = _report(db, tmp)
    md = _report(db, tmp, "--skeleton")
    for h in ("## Detection", "## Response and resolution timeline", "## Customer impact", "## Action items"):
        assert h in md and h not in plain
    sk = md[md.index("## Detection"):]
    assert f"First error in the logs: `{trim_ts(rep['impact']['first'])}`" in sk
    # the first alert-worthy moment is a finding of the window at incident level (or a warning that explains impact)
    m = re.search(r"First alert-worthy moment in the logs: `([^`]+)`, \[.*?\]\(#f-(\w+)\)", sk)
    assert m
    f = next(x for x in rep["findings"] if x["id"] == m.group(2))
    assert f["severity"] == "incident" or f["explains"]
    assert trim_ts(f["start"]) == m.group(1)
    # the response timeline is in time order, with recovery from the timeline and blanks for people
    times = re.findall(r"^\| `([^`]+)` \|", sk[sk.index("## Response"): sk.index("## Customer impact")], re.M)
    assert times == sorted(times) and len(times) >= 3
    assert "recovery in the logs" in sk and "_(who)_" in sk
    # action items: every recommendation, with owner and due date to fill
    items = sk[sk.index("## Action items"):]
    rows = [ln for ln in items.splitlines() if ln.startswith("| ") and "_(owner)_" in ln]
    assert len(rows) == len(rep["recommendations"]) + 1
    assert f"{rep['impact']['deaths']:,} worker deaths" in sk


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


def _self_contained(page: str) -> _Page:
    assert page.startswith("<!doctype html>")
    p = _parse(page)
    # self-contained: no script, no external style, font, frame or image; nothing fetched
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(p.tags), set(p.tags)
    for tag, k, v in p.attrs:
        assert not re.match(r"\s*(https?:|//|javascript:)", v, re.I), (tag, k, v)
        assert not (k == "href" and not v.startswith("#")), (tag, k, v)  # links only within the page
    assert "@import" not in page and "url(" not in page.replace("url(#arrow)", "")
    return p


def _check_html(page: str, report: dict) -> _Page:
    p = _self_contained(page)
    text = re.sub(r"\s+", " ", "".join(p.text))
    root = next(f for f in report["findings"] if f["id"] == report["root_cause"])
    assert re.sub(r"\s+", " ", people(root["title"])) in text
    # the chain is visible as a list, every link of it, findings named by their titles
    if report["chain"]:
        by_id = {f["id"]: f for f in report["findings"]}
        for c in report["chain"]:
            assert f"{people(by_id[c['cause']]['title'])} → {people(by_id[c['effect']]['title'])}" in text
            assert f'href="#f-{c["cause"]}"' in page
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
        assert "<h2>Causal chain</h2>" in dom and html.escape(people(root["title"]), quote=False) in dom, dom[-2000:]


def test_html_keeps_hostile_log_text_as_text(golden):
    """The golden events quote `<script>`, a javascript: link and a credential: text, not markup."""
    out = golden["dir"] / "g.html"
    _invoke("report", "--db", str(golden["db"]), "--format", "html", "--out", str(out))
    page = out.read_text(encoding="utf-8")
    p = _check_html(page, golden["report"])
    text = "".join(p.text)
    assert "<script>alert(1)</script>" in text  # shown, escaped in the source
    assert "<script>" not in page and "hunter2" not in page


# every sample bundle (incident with its history; repro holds the programs, not logs)
ALL_SAMPLES = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and p.name not in ("repro", "history"))


def _chain_svg(page: str) -> str:
    m = re.search(r'<svg class="chain".*?</svg>', page, re.S)
    return m.group(0) if m else ""


@pytest.mark.parametrize("bundle", ALL_SAMPLES)
def test_every_sample_html_renders_offline_with_its_chain(bundle, tmp_path):
    """The HTML of each sample: one self-contained page; its chain drawn as an inline SVG with a box
    per finding of the chain (linked to its section) and an arrow per link; in headless Chromium,
    offline, the chain is in the rendered page with every title."""
    paths = [require(SAMPLES / bundle)] + ([require(SAMPLES / "history")] if bundle == "incident" else [])
    db = str(tmp_path / "t.duckdb")
    _invoke("ingest", *map(str, paths), "--db", db, "-q")
    rep = json.loads(_report(db, tmp_path, "--format", "json"))
    page = _report(db, tmp_path, "--format", "html")
    _self_contained(page)
    svg = _chain_svg(page)
    in_chain = {c[k] for c in rep["chain"] for k in ("cause", "effect")}
    assert svg.count('<g class="node">') == len(in_chain)
    assert svg.count("marker-end=") == len(rep["chain"])
    for fid in in_chain:
        assert f'href="#f-{fid}"' in svg
    if rep["root_cause"] and rep["root_cause"] in in_chain:
        assert "(root cause)" in svg
    if CHROMIUM:
        path = tmp_path / f"{bundle}.html"
        path.write_text(page, encoding="utf-8")
        dom = _render_in_chromium(path)
        assert "<h2>Causal chain</h2>" in dom, dom[-2000:]
        if in_chain:
            shown = re.sub(r"<[^>]+>", " ", _chain_svg(dom))
            by_id = {f["id"]: f for f in rep["findings"]}
            for fid in in_chain:  # the first words of each title are drawn in its box
                first = html.escape(people(by_id[fid]["title"]).split()[0], quote=False)
                assert first in shown, (fid, first)
