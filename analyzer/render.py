"""Render a report dict as Markdown (Jinja2 templates in pmortem.templates) or JSON."""

from __future__ import annotations

import json
from importlib.resources import files

import jinja2

from . import rules
from .escape import code_block, code_span, html_text, md_escape, mermaid_label
from .findings import explained_text
from .redact import Redactor
from .sqlrun import substituted

SERIES = [("deaths", "worker deaths/s"), ("dependency_calls", "dependency calls/s"), ("dependency_errors", "dependency errors/s"),
          ("timeouts", "timeouts/s")]


def _load_template(name: str) -> str:
    return files("pmortem.templates").joinpath(name).read_text(encoding="utf-8")


def _env(redact: Redactor) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=False,  # Markdown, not HTML: every value from logs goes through md/code/mlabel below
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = lambda v: md_escape(redact(v))
    env.filters["html"] = lambda v: html_text(redact(v))
    env.filters["code"] = lambda v: code_span(redact(v))
    env.filters["tcode"] = lambda v: code_span(redact(v), table=True)
    env.filters["codeblock"] = lambda v, lang="": code_block(redact(v), lang)
    env.filters["mlabel"] = lambda v, n=80: mermaid_label(redact(v), n)
    env.filters["num"] = lambda v: "n/a" if v is None else (f"{v:,.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    env.filters["explained"] = explained
    env.filters["sqltext"] = lambda ref: substituted(ref["text"], ref["params"])
    return env


def explained(explains: dict) -> str:
    """'24 of 24 timeouts, 3 of 5 worker deaths' from a finding's `explains`."""
    return explained_text(explains) or "none of the observed impact"


def chart(report: dict) -> dict | None:
    tl = report["timeline"]
    rows = tl["rows"]
    if not rows:
        return None
    b = tl["bucket_s"]
    labels = [r["bucket"][11:19] for r in rows]
    # only series that carry something: an all-zero line says nothing and hides the others
    series = [(name, [round(r.get(k, 0) / b, 2) for r in rows]) for k, name in SERIES]
    series = [(name, v) for name, v in series if any(v)]
    if not series:
        return None
    top = max([max(v) for _, v in series] + [1])
    return {"labels": labels, "series": series, "y_max": int(top * 1.1) + 1, "bucket_s": b}


def impact_partials() -> list[dict]:
    """The rules' Impact lines: each partial with the finding rules it renders, in impact_rank order."""
    told = sorted((r for r in rules.REGISTRY if r.impact_rank is not None), key=lambda r: r.impact_rank)
    return [{"template": r.impact_template, "rules": list(r.produces)} for r in told]


SQL_MODES = ("inline", "appendix", "none")


def sql_anchor(q: dict) -> str:
    """The appendix anchor of a query: `sql-` and its file's stem (`queries/x.sql` -> `sql-x`)."""
    stem = q["file"].rsplit("/", 1)[-1].removesuffix(".sql")
    return "sql-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)


def cited_queries(report: dict) -> list[dict]:
    """Each query a finding or hypothesis cites, once (by file), in order of first citation."""
    seen: dict[str, dict] = {}
    for item in [*report["findings"], *report["hypotheses"]]:
        q = item.get("sql")
        if q and q["file"] not in seen:
            seen[q["file"]] = {"file": q["file"], "text": query_body(q["text"])}
    return list(seen.values())


def query_body(text: str) -> str:
    """A query file without its header comment past the first line: the header documents the
    query in the repository (the appendix names the file); the first line says what it measures."""
    lines = text.splitlines()
    i = 1 if lines and lines[0].lstrip().startswith("--") else 0
    while i < len(lines) and (lines[i].lstrip().startswith("--") or not lines[i].strip()):
        i += 1
    return "\n".join(lines[:1] + lines[i:] if i else lines)


def render_markdown(report: dict, redact: Redactor, sql: str = "appendix") -> str:
    """The report as Markdown. `sql`: each finding's query `inline` (a <details> block with the
    parameters written in), in an `appendix` (each query's text once, the finding names its file
    and parameters in one line), or `none`."""
    if sql not in SQL_MODES:
        raise ValueError(f"sql must be one of {SQL_MODES}, not {sql!r}")
    env = _env(redact)
    by_id = {f["id"]: f for f in report["findings"]}
    return env.get_template("report.md.j2").render(
        r=report, by_id=by_id, chart=chart(report), impact=impact_partials(),
        sql_mode=sql, sql_queries=cited_queries(report), sql_anchor=sql_anchor,
    )


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }}
code, pre {{ font: 13px/1.4 ui-monospace, monospace; background: #f6f8fa; }}
pre {{ padding: .75rem; overflow-x: auto; }}
table {{ border-collapse: collapse; margin: .5rem 0; }}
th, td {{ border: 1px solid #d0d7de; padding: .2rem .5rem; text-align: left; vertical-align: top; }}
h1, h2 {{ border-bottom: 1px solid #d0d7de; }}
svg.timeline text {{ font: 11px sans-serif; }}
</style>
</head><body>
{body}
</body></html>
"""
CHART_COLOURS = ["#cf222e", "#0969da", "#9a6700", "#8250df"]


def svg_chart(c: dict) -> str:
    """The timeline as an inline SVG line chart (no script): one polyline per series."""
    w, h, left, bottom, top = 900, 260, 48, 40, 24
    n = len(c["labels"])

    def x(i: int) -> float:
        return left + (w - left - 10) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return top + (h - top - bottom) * (1 - v / c["y_max"])

    parts = [f'<svg class="timeline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
             f'role="img" aria-label="timeline">']
    parts.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{w - 10}" y2="{y(0):.1f}" stroke="#888"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0):.1f}" stroke="#888"/>')
    parts.append(f'<text x="4" y="{top + 4}">{c["y_max"]}/s</text><text x="4" y="{y(0):.1f}">0</text>')
    step = max(1, n // 8)
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i):.1f}" y="{h - bottom + 16}" text-anchor="middle">{html_text(c["labels"][i])}</text>')
    for k, (name, vals) in enumerate(c["series"]):
        colour = CHART_COLOURS[k % len(CHART_COLOURS)]
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="{left + 10 + 170 * k}" y="{h - 6}" fill="{colour}">— {html_text(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict, redact: Redactor, sql: str = "appendix") -> str:
    """One self-contained HTML page (no scripts, styles or fonts from the network): the Markdown
    report rendered by markdown-it-py (CommonMark + tables). Every value from the logs is already
    escaped for Markdown (an escaped `<` opens no tag), so raw HTML in the page is only the
    templates' own (<details>, anchors). The Mermaid blocks become HTML: the chain is the list
    under it, the timeline an inline SVG drawn here."""
    from markdown_it import MarkdownIt

    md = render_markdown(report, redact, sql=sql)
    c = chart(report)
    mdit = MarkdownIt("commonmark", {"html": True}).enable("table")
    fence = mdit.renderer.rules["fence"]

    def no_mermaid(_renderer, tokens, idx, options, env):
        tok = tokens[idx]
        if tok.info.strip() == "mermaid":
            return svg_chart(c) + "\n" if c and tok.content.startswith("xychart") else ""
        return fence(tokens, idx, options, env)

    mdit.add_render_rule("fence", no_mermaid)
    w = report.get("window") or {}
    title = f"Postmortem: {report.get('service') or 'all services'}" + (f", {w['start']} to {w['end']}" if w.get("start") else "")
    return HTML_PAGE.format(title=html_text(redact(title)), body=mdit.render(md))
