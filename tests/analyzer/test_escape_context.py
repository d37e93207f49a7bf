"""Escaping by context (issue 14): log text in prose gets a backslash only where it would change
the rendering, and still renders as exactly its own text, never as markup. Checked by rendering
with markdown-it-py (CommonMark + GFM tables + strikethrough), the HTML export's renderer."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pmortem.analyzer.escape import md_text
from pmortem.analyzer.render import people, render_sql_sidecar, trim_ts

MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
HOSTILE = [
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "![img](http://e.x/a.png)",
    "# heading",
    "> quote",
    "- item",
    "+ item",
    "1. item",
    "12) item",
    "---",
    "***",
    "___",
    "*em* _em_ **strong** __strong__",
    "~~gone~~",
    "`code` ``x``",
    "a | b | c",
    "&lt; &amp; &#58; &#x3c;",
    "[ref]: http://e.x",
    "[a][b] [c]",
    "<http://e.x>",
    "x\\*y\\_z\\",
    "    indented",
    "line one\nline two\n# three",
    "pod_spec.limit and __init__ and snake_case_name",
    "[ ] task",
]
PLAIN = ["2022-04-08T20:53:00Z to 2022-04-08T20:59:05.616Z", "(r = 0.72)", "1.5 s", "ip-10-0-3-17",
         "os.cpus() leaks the host's cores", "pod_spec.limit", "campaign-7f9c6d5b8-x2k9p", "-0.003 s"]


def _inline_html(body: str) -> str:
    out = MD.render(body)
    return out


def _expected(s: str) -> str:
    return s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ⏎ ").replace("\t", " ").lstrip(" ")


def _check_prose(s: str) -> None:
    page = _inline_html("- " + md_text(s))
    # one list with one item holding one paragraph-less line of text: no markup of any kind
    tags = re.findall(r"</?([a-z0-9]+)", page)
    assert tags == ["ul", "li", "li", "ul"], (s, page)
    inner = re.sub(r"</?(ul|li)>", "", page).strip()
    got = html.unescape(inner)
    assert got.strip() == _expected(s).strip(), (s, md_text(s), got)


def _check_cell(s: str) -> None:
    page = _inline_html("| h |\n|---|\n| " + md_text(s, table=True) + " |")
    assert len(re.findall(r"<td>", page)) == 1, (s, page)
    cell = re.search(r"<td>(.*?)</td>", page, re.S).group(1)
    assert not re.search(r"<[a-z]", cell), (s, page)
    got = html.unescape(cell)
    assert got == _expected(s).strip(), (s, md_text(s, table=True), got)


def test_hostile_text_renders_as_itself():
    for s in HOSTILE + PLAIN:
        _check_prose(s)
        _check_cell(s)


def test_plain_prose_carries_no_backslash():
    for s in PLAIN:
        assert "\\" not in md_text(s), (s, md_text(s))
    assert md_text("2022-04-08 (x) a.b") == "2022-04-08 (x) a.b"
    assert md_text("- x") == "\\- x" and md_text("1. x") == "1\\. x"
    assert md_text("a_b _c_") == "a_b \\_c\\_"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#>-+*_~`|<>[]()!&;:=\\.1 aZ\n/x")), max_size=24))
def test_any_mix_of_markdown_characters_renders_as_itself(s):
    if not _expected(s).strip():
        return
    _check_prose(s)
    _check_cell(s)


def test_people_rounds_prose_but_not_addresses_versions_or_times():
    s = people("303.74 calls/min vs 36.98 (8.21x) after 0.098 s at 5.097/s; 127.0.0.1, v3.0.4, 20:55:12.561671Z")
    assert s == "304 calls/min vs 37 (8.2x) after 98 ms at 5.1/s; 127.0.0.1, v3.0.4, 20:55:12.561671Z"
    assert trim_ts("2022-04-08T20:59:05.616000Z 2022-04-08T20:53:00.000000+00:00") == \
        "2022-04-08T20:59:05.616Z 2022-04-08T20:53:00Z"


def test_sidecar_comments_cannot_be_broken_out_of():
    evil = "x\nDROP TABLE events; --\r\u2028SELECT 1"
    f = {"id": "abc", "rule": "r", "title": evil,
         "sql": {"file": "queries/q.sql", "params": {"p": evil}, "text": "-- q.sql: test\nSELECT 42"}}
    rep = {"pmortem_version": "t", "window": {"start": None, "end": None}, "findings": [f], "hypotheses": []}
    out = render_sql_sidecar(rep, lambda v: v, "pm.md\nDROP")
    code = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("--")]
    assert code == ["SELECT 42;"], out
