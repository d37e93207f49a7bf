"""The Markdown report: sections, escaping of hostile log text, redaction of secrets."""

import re

from pmortem.analyzer.escape import code_span, md_escape, mermaid_label
from pmortem.analyzer.redact import load_redactor

SECTIONS = ["## Summary", "## Impact", "## Causal chain", "## Trigger", "## Root cause", "## Timeline", "## Evidence",
            "## Hypotheses tested", "## Near misses", "## Recommendations", "## Coverage"]


def test_sections_in_order(golden):
    md = golden["md"]
    pos = [md.index(s) for s in SECTIONS]
    assert pos == sorted(pos)
    assert "```mermaid\nflowchart LR" in md and "xychart-beta" in md
    assert "fingerprint `fp2:100`" in md and "REJECTED" in md


def test_hostile_text_is_inert(golden):
    md = golden["md"]
    # outside code spans (where CommonMark shows text literally) no raw HTML or link can form
    outside = re.sub(r"(`+).*?\1", "", md)
    assert "<script>" not in outside and "](javascript:" not in outside
    assert "\\<script\\>" in md or "<script>" in md
    # the hostile line is quoted inside a code span whose fence is longer than its backtick runs
    q = [ln for ln in md.splitlines() if "alert(1)" in ln]
    assert q, "hostile line should be quoted as evidence"
    for ln in q:
        m = re.search(r"(`{4,})(.*alert\(1\).*)\1", ln)
        assert m, ln
    for block in re.findall(r"```mermaid\n(.*?)```", md, re.S):
        assert "%%" not in block and "<script" not in block


def test_secrets_redacted(golden):
    md, js = golden["md"], str(golden["report"])
    for text in (md, js):
        assert "hunter2" not in text and "abcdefghijklmnopqrstuv" not in text
    assert "postgres://app:***@db.internal" in md


def test_md_escape_units():
    # backslash escapes (CommonMark): no tag, no entity, and no '-&gt;' in the Markdown source (issue 12)
    assert md_escape("<b>x</b> -> &lt;") == "\\<b\\>x\\</b\\> \\-\\> \\&lt;"
    assert md_escape("[a](javascript:alert(1))") == "\\[a\\]\\(javascript&#58;alert\\(1\\)\\)"
    assert md_escape("# not a heading\n- nor a list") == "\\# not a heading ⏎ \\- nor a list"
    assert md_escape("a|b*c_d`e") == "a\\|b\\*c\\_d\\`e"
    assert code_span("x`y") == "``x`y``"
    assert code_span("`edge`") == "`` `edge` ``"
    assert mermaid_label('a"]-->b%%{init}\nc') == "a')- b pct(init) c"


def test_redaction_rules_and_config(tmp_path):
    r = load_redactor(None)
    assert r("DATABASE_URL=postgres://u:pw@h/db") == "DATABASE_URL=postgres://u:***@h/db"
    assert r("Authorization: Bearer abc.def.ghi123") == "Authorization: ***"
    assert r("curl -H 'Cookie: session=abc; x=y'") == "curl -H 'Cookie: ***"
    assert r("api_key=AbCdEf123456 ok") == "api_key=*** ok"
    assert r("password: s3cr3t, user: bob") == "password: ***, user: bob"
    cfg = tmp_path / "pmortem.toml"
    cfg.write_text("[[redact]]\nregex = 'card=\\d{12}(\\d{4})'\nreplacement = 'card=************\\1'\n")
    r2 = load_redactor(str(cfg))
    assert r2("card=123456789012 3456") == "card=123456789012 3456"
    assert r2("card=1234567890123456") == "card=************3456"
