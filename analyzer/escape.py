"""Make log text inert in Markdown, HTML and Mermaid: a hostile line must not change the page."""

from __future__ import annotations

import html
import re

from ..safe_text import visible

_MD_SPECIAL = set("\\`*_{}[]()#+-!|<>~.:=\"'&")
_BACKTICKS = re.compile(r"`+")


def md_escape(text: object) -> str:
    """Escape text for Markdown prose or a table cell.

    HTML-sensitive characters and Markdown punctuation are backslash-escaped (CommonMark: an
    escaped `<` opens no tag and an escaped `&` starts no entity, so `<script>` and `&lt;` stay
    text, and `->` reads as `->`, not `-&gt;`, in the Markdown source). Only for Markdown prose: inside
    raw HTML (a `<summary>`) use `html_text`. `](javascript:` style links cannot form, and line breaks
    become spaces so a line cannot start a heading, list or table row of its own.
    """
    if text is None:
        return ""
    s = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    out = []
    for ch in s:
        if ch in "\\`*_{}[]()#+-!|~<>&\"":
            out.append("\\" + ch)
        else:
            out.append(ch)
    s = "".join(out)
    # a scheme followed by ':' could still autolink in some renderers (GFM autolinks www./http:)
    s = re.sub(r"(?i)\b(javascript|vbscript|data|file)\s*:", lambda m: m.group(1) + "&#58;", s)
    s = re.sub(r"(?i)\b(https?|ftp)://", lambda m: m.group(1) + "&#58;//", s)
    s = re.sub(r"(?i)\bwww\.", "www&#46;", s)
    return s


_LINE_START = re.compile(r"^(?:[#>+=]|-(?=\s|-|$)|\d{1,9}(?=[.)](?:\s|$))|\[)")
_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)")
_LINK_CLOSE = re.compile(r"\](?=[(\[:])")
_INTRAWORD = re.compile(r"(?<=[^\W_])_(?=[^\W_])")


def md_text(text: object, *, table: bool = False) -> str:
    """Escape text for Markdown prose (or a table cell) by context: only what would change the
    rendering gets a backslash, so `2022-04-08`, `1.5 s` and `(r = 0.72)` stay as written.

    Always: `\\`, backticks, `*`, `~`, `<` (no tag, no autolink) and `_` unless it sits inside a
    word (`pod_spec` cannot emphasise); `&` only where it would start an entity; `]` only where it
    would close a link (`](`, `][`, `]:`). At the start of the text (where a template puts it at the
    start of a line or list item): a heading `#`, quote `>`, list marker `-`/`+`/`1.`/`1)`, a setext
    `=`, and `[`. In a table cell (`table=True`) also `|`, and no line-start rules (a cell holds no
    blocks). Line breaks become ⏎, and a scheme's `:` becomes `&#58;` as in md_escape, so neither a
    line nor a link can form from log text.
    """
    if text is None:
        return ""
    s = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    if not table:
        s = s.lstrip(" ")
    out = []
    for ch in s:
        out.append("\\" + ch if ch in "\\`*~<" or (table and ch == "|") else ch)
    s = "".join(out)
    s = re.sub(r"_", lambda m: "_" if _INTRAWORD.match(m.string, m.start()) else "\\_", s) if "_" in s else s
    s = _ENTITY.sub("\\\\&", s)
    s = _LINK_CLOSE.sub("\\\\]", s)
    if not table:
        s = _LINE_START.sub(lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0), s, count=1)
    s = re.sub(r"(?i)\b(javascript|vbscript|data|file)\s*:", lambda m: m.group(1) + "&#58;", s)
    s = re.sub(r"(?i)\b(https?|ftp)://", lambda m: m.group(1) + "&#58;//", s)
    s = re.sub(r"(?i)\bwww\.", "www&#46;", s)
    return s


def _longest_run(text: str) -> int:
    return max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=0)


def code_span(text: object, *, table: bool = False) -> str:
    """Inline code whose fence is longer than any backtick run inside (CommonMark rule).

    In a table cell `|` still splits cells inside code spans (GFM), so it is escaped there.
    Line breaks become ⏎ so a quote stays on one line.
    """
    s = "" if text is None else str(text)
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ⏎ ")
    if table:
        s = s.replace("|", "\\|")
    fence = "`" * (_longest_run(s) + 1)
    pad = " " if (s.startswith("`") or s.endswith("`") or not s.strip()) else ""
    if not s:
        return "` `"
    return f"{fence}{pad}{s}{pad}{fence}"


def code_block(text: object, lang: str = "") -> str:
    """A fenced block whose fence is longer than any backtick run in the text (at least 3)."""
    s = "" if text is None else str(text)
    fence = "`" * max(3, _longest_run(s) + 1)
    return f"{fence}{lang}\n{s.rstrip()}\n{fence}"


_MERMAID_OK = re.compile(r"[^A-Za-z0-9 .,:;/=_+()'%-]")


def mermaid_label(text: object, limit: int = 80) -> str:
    """Text for inside a quoted Mermaid label: no quotes, brackets, arrows, comments or newlines."""
    s = "" if text is None else str(text)
    s = s.replace("\n", " ").replace("\r", " ")
    s = s.replace('"', "'").replace("[", "(").replace("]", ")").replace("{", "(").replace("}", ")")
    s = s.replace("<", " ").replace(">", " ")
    s = _MERMAID_OK.sub(" ", s)
    s = re.sub(r"-{2,}", "-", s)
    s = re.sub(r"%+", " pct", s)
    s = re.sub(r"=+", "=", s)
    s = re.sub(r"\s+", " ", s).strip()
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s or "-"


def html_text(text: object) -> str:
    return html.escape(visible("" if text is None else str(text)), quote=True)
