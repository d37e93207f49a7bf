"""Render a report dict as Markdown (Jinja2 templates in pmortem.templates) or JSON."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib.resources import files
from typing import TYPE_CHECKING

from . import rules
from .escape import code_block, code_span, html_text, md_text, mermaid_label
from .findings import explained_text
from .redact import Redactor
from .sqlrun import param_text, substituted

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

SERIES = [("deaths", "worker deaths/s"), ("dependency_calls", "dependency calls/s"), ("dependency_errors", "dependency errors/s"),
          ("timeouts", "timeouts/s")]


def _load_template(name: str) -> str:
    return files("pmortem.templates").joinpath(name).read_text(encoding="utf-8")


# ------------------------------------------------------------------ values as people write them
_TS_FRACTION = re.compile(r"(\d{2}:\d{2}:\d{2})\.(\d*?)0+(?=Z|[+-]\d{2}:?\d{2}|\b)")
_DECIMAL = re.compile(r"(-?\d{1,3}(?:,\d{3})+\.\d+|-?\d+\.\d+)( s(?![A-Za-z0-9]))?")


_TS_UTC = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)\+00:00\b")


def trim_ts(text: str) -> str:
    """ISO timestamps without trailing zero fraction digits, UTC as Z: `20:59:05.616000+00:00` ->
    `20:59:05.616Z`."""
    text = _TS_UTC.sub(r"\1Z", text)
    return _TS_FRACTION.sub(lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""), text)


def human(x: float | int) -> str:
    """A number as a person would write it: thousands separated; below 100 two significant digits
    (5.097 -> 5.1, 0.367 -> 0.37), from 100 on whole (303.74 -> 304)."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if x != x:  # nan
        return "n/a"
    a = abs(x)
    if a >= 100 or x == int(x) and a < 1e15:
        return f"{x:,.0f}" if a >= 100 or x == int(x) else str(x)
    if a == 0:
        return "0"
    digits = 1 if a >= 10 else 2
    import math

    nd = max(0, digits - 1 - math.floor(math.log10(a)))
    t = f"{round(x, nd):.{nd}f}"
    return t.rstrip("0").rstrip(".") if "." in t else t


def _round_in_text(m: re.Match) -> str:
    s, unit, text, i, j = m.group(1), m.group(2) or "", m.string, m.start(), m.end(1)
    before = text[i - 1] if i else " "
    after = text[j:j + 2]
    # not part of a dotted number (an address, a version), a time, an identifier or a hash
    if before.isalnum() or before in ".:/_-#" and not (before == "-" and (i < 2 or not text[i - 2].isalnum())):
        return s + unit
    if after[:1].isdigit() or after[:1] == "." and after[1:2].isdigit() or after[:1] == ":":
        return s + unit
    if after[:1].isalpha() and not (after[:1] == "x" and not after[1:2].isalpha()):
        return s + unit
    x = float(s.replace(",", ""))
    if unit and abs(x) < 1 and x:
        return f"{human(round(x * 1000, 3))} ms"  # 0.098 s -> 98 ms
    return human(x) + unit


_QUOTED = re.compile(r"((?<!\w)'[^'\n]*'(?!\w)|(?<!\w)\"[^\"\n]*\"(?!\w))")


def people(text: object) -> str:
    """Prose as people write it: timestamps without trailing zeros and decimals rounded
    (`0.098 s` -> `98 ms`, `5.097/s` -> `5.1/s`, `8.21x` -> `8.2x`), leaving addresses, versions,
    times and identifiers alone. The JSON keeps the exact values."""
    if text is None:
        return ""
    parts = _QUOTED.split(trim_ts(str(text)))  # a quoted message (odd parts) stays as logged
    return "".join(p if i % 2 else _DECIMAL.sub(_round_in_text, p) for i, p in enumerate(parts))


def value(v: object) -> str:
    """A metric value as people write it (no Python reprs): yes/no, `4: 37, 8: 44`, `a, b`."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return human(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(value(x) for x in v)
    return trim_ts(str(v))  # text (often from the logs) as it is, times without trailing zeros


def empty(v: object) -> bool:
    return v is None or v == "" or v == [] or v == {} or isinstance(v, float) and v != v


def _env(redact: Redactor) -> jinja2.Environment:
    import jinja2  # only for Markdown and HTML: `report --format json` never loads it

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=False,  # Markdown, not HTML: every value from logs goes through md/code/mlabel below
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = lambda v: md_text(people(redact(v)))  # prose: escaped by context, numbers for people
    env.filters["tmd"] = lambda v: md_text(people(redact(v)), table=True)
    env.filters["val"] = lambda v: md_text(value(redact(v) if isinstance(v, str) else v), table=True)
    env.filters["html"] = lambda v: html_text(redact(v))
    env.filters["code"] = lambda v: code_span(redact(v))
    env.filters["tcode"] = lambda v: code_span(redact(v), table=True)
    env.filters["ts"] = lambda v: code_span(trim_ts(str(v))) if v else "n/a"
    env.filters["codeblock"] = lambda v, lang="": code_block(redact(v), lang)
    env.filters["mlabel"] = lambda v, n=80: mermaid_label(people(redact(v)), n)
    env.filters["num"] = lambda v: "n/a" if v is None else human(v) if isinstance(v, (int, float)) else people(v)
    env.filters["explained"] = explained
    env.filters["sqltext"] = lambda ref: substituted(ref["text"], ref["params"])
    env.filters["sqlparam"] = lambda v: param_text(v)
    env.filters["link"] = lambda f: finding_link(f, redact)
    env.tests["empty"] = empty
    return env


def finding_anchor(f: dict) -> str:
    return "f-" + f["id"]


def finding_link(f: dict, redact: Redactor) -> str:
    """`[title](#f-id)`: a finding named by its title, pointing at its heading under Evidence."""
    text = md_text(people(redact(f["title"])), table=True).replace("|", "\\|")
    text = re.sub(r"(?<!\\)([\[\]])", r"\\\1", text)
    return f"[{text}](#{finding_anchor(f)})"


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


SQL_MODES = ("sidecar", "inline", "appendix", "none")


def sql_anchor(q: dict) -> str:
    """The appendix anchor of a query: `sql-` and its file's stem (`queries/x.sql` -> `sql-x`)."""
    return "sql-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in query_name(q))


def query_name(q: dict) -> str:
    """A query's name: its file's stem (`queries/worker_lifecycle.sql` -> `worker_lifecycle`)."""
    return q["file"].rsplit("/", 1)[-1].removesuffix(".sql")


def cited_queries(report: dict) -> list[dict]:
    """Each query a finding or hypothesis cites, once (by file), in order of first citation, with
    who cites it: `users` = [(finding or hypothesis dict, params)]."""
    seen: dict[str, dict] = {}
    for item in [*report["findings"], *report["hypotheses"]]:
        q = item.get("sql")
        if q:
            e = seen.setdefault(q["file"], {"file": q["file"], "text": query_body(q["text"]), "users": []})
            e["users"].append((item, q["params"]))
    return list(seen.values())


def query_body(text: str) -> str:
    """A query file without its header comment past the first line: the header documents the
    query in the repository (the appendix names the file); the first line says what it measures."""
    lines = text.splitlines()
    i = 1 if lines and lines[0].lstrip().startswith("--") else 0
    while i < len(lines) and (lines[i].lstrip().startswith("--") or not lines[i].strip()):
        i += 1
    return "\n".join(lines[:1] + lines[i:] if i else lines)


def _same_instant(a: object, b: object) -> bool:
    try:
        return dt.datetime.fromisoformat(str(a).replace("Z", "+00:00")) == dt.datetime.fromisoformat(str(b).replace("Z", "+00:00"))
    except ValueError:
        return False


def own_params(params: dict, report: dict) -> dict:
    """A query's parameters less the window's own ($since/$until equal to the report's window),
    which the report states once."""
    w = report.get("window") or {}
    return {k: v for k, v in params.items()
            if not (k == "since" and _same_instant(v, w.get("start")) or k == "until" and _same_instant(v, w.get("end")))}


_SQL_COMMENT_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]")


def _comment(text: object) -> str:
    """Text for a `--` comment line: no line break or control character can end the comment."""
    return _SQL_COMMENT_UNSAFE.sub(" ", "" if text is None else str(text))


def render_sql_sidecar(report: dict, redact: Redactor, report_name: str | None = None) -> str:
    """The SQL file next to the report (`postmortem.sql` beside `postmortem.md`): each cited query
    once, under a comment naming the findings that cite it and the parameters each used. A finding
    of the report names the query (`-- query: NAME`) and this file."""
    w = report.get("window") or {}
    out = [
        f"-- SQL behind {_comment(redact(report_name)) if report_name else 'the pmortem report'}"
        f" (pmortem {_comment(report.get('pmortem_version'))}), each query once.",
        f"-- Window: {_comment(trim_ts(str(w.get('start'))))} to {_comment(trim_ts(str(w.get('end'))))}:"
        " $since and $until unless a finding says otherwise.",
        "-- Run one with `pmortem sql` after writing its $parameters in (the values are under `used by`).",
        "",
    ]
    for q in cited_queries(report):
        out.append("-- " + "=" * 96)
        out.append(f"-- query: {query_name(q)} ({q['file']})")
        for item, params in q["users"]:
            what = item.get("title") or item.get("statement") or ""
            kind = f"finding {item['id']}" if item.get("id") else f"hypothesis {item.get('rule')}"
            out.append(_comment(redact(f"-- used by {kind}: {people(what)}")))
            if params:
                out.append(_comment(redact("--   " + ", ".join(f"${k} = {param_text(v)}" for k, v in params.items()))))
        out.append("-- " + "=" * 96)
        body = q["text"].rstrip().rstrip(";")
        out += [body + ";", ""]
    return "\n".join(out)


def sidecar_path(out: str) -> str:
    """`postmortem.md` -> `postmortem.sql` (any other name: the name plus `.sql`)."""
    for ext in (".md", ".markdown", ".html", ".htm"):
        if out.lower().endswith(ext):
            return out[: -len(ext)] + ".sql"
    return out + ".sql"


def render_markdown(report: dict, redact: Redactor, sql: str = "appendix", *, sql_file: str | None = None,
                    sql_hint: bool = False, skeleton: bool = False) -> str:
    """The report as Markdown. `sql`: each finding's query `inline` (a <details> block with the
    parameters written in), in an `appendix` (each query's text once, the finding names its file
    and parameters in one line), in a `sidecar` file `sql_file` (render_sql_sidecar; the finding
    names the query and the file), or `none` (`sql_hint`: one line telling how to get it).
    `skeleton`: the sections only people can write (detection, response, customer impact, action
    items), pre-filled where the logs say something."""
    if sql not in SQL_MODES:
        raise ValueError(f"sql must be one of {SQL_MODES}, not {sql!r}")
    if sql == "sidecar" and not sql_file:
        raise ValueError("sql='sidecar' needs sql_file, the name of the SQL file next to the report")
    env = _env(redact)
    by_id = {f["id"]: f for f in report["findings"]}
    return env.get_template("report.md.j2").render(
        r=report, by_id=by_id, chart=chart(report), impact=impact_partials(),
        sql_mode=sql, sql_queries=cited_queries(report), sql_anchor=sql_anchor, query_name=query_name,
        own_params=lambda p: own_params(p, report), sql_file=sql_file and sql_file.replace("\\", "/").rsplit("/", 1)[-1],
        sql_hint=sql_hint, skeleton=skeleton_facts(report) if skeleton else None, coverage=coverage_view(report),
        anchor=finding_anchor, chain_order=chain_order(report),
    )


def chain_order(report: dict) -> list[dict]:
    """The findings the root cause led to, in the chain's order (breadth first from the root)."""
    by_id = {f["id"]: f for f in report["findings"]}
    root = report.get("root_cause")
    if not root:
        return []
    seen, order, todo = {root}, [], [root]
    while todo:
        cur = todo.pop(0)
        for c in report["chain"]:
            if c["cause"] == cur and c["effect"] not in seen and c.get("kind") != "time":
                seen.add(c["effect"])
                order.append(by_id[c["effect"]])
                todo.append(c["effect"])
    return order


def coverage_view(report: dict) -> dict:
    """Coverage as the report shows it: only sources with gaps (minutes without lines inside their
    own span), and how many sources and pods had none."""
    rows = report.get("coverage") or []
    gaps = [c for c in rows if c.get("gap_minutes") or c.get("gaps")]
    pods = {c.get("pod") for c in rows if c.get("pod")}
    return {"gaps": gaps, "sources": len({c.get("path") for c in rows}), "rows": len(rows),
            "pods": len(pods), "clean": len(rows) - len(gaps)}


IMPACT_WORDS = {"deaths": "worker deaths", "timeouts": "timeouts", "http_5xx": "5xx responses", "errors": "error lines"}


def skeleton_facts(report: dict) -> dict:
    """What the logs can say for the human sections: the first error, the first alert-worthy
    moment (the earliest finding at incident level, or at warning that explains impact; its onset
    inside the window), the worst bucket and the recovery (the end of the last timeline bucket
    with impact, if the logs go on after it). `events`: those moments in time order."""
    w = report.get("window") or {}
    imp = report.get("impact") or {}
    tl = report.get("timeline") or {}

    def t(x):
        return dt.datetime.fromisoformat(str(x).replace("Z", "+00:00"))

    inside = [f for f in report["findings"] if f["rule"] != "near_miss" and f.get("start")
              and (not w.get("start") or t(f["start"]) > t(w["start"]))]
    alert = min((f for f in inside if f["severity"] == "incident" or f["severity"] == "warning" and f.get("explains")),
                key=lambda f: t(f["start"]), default=None)
    rows = tl.get("rows") or []
    keys = ("deaths", "timeouts", "server_errors", "client_errors", "dependency_errors")
    bad = [r for r in rows if any(r.get(k) for k in keys)]
    peak = max(bad, key=lambda r: sum(r.get(k, 0) for k in keys), default=None)
    last = bad[-1] if bad else None
    recovered = None
    if last is not None and rows.index(last) + 1 < len(rows):  # the logs go on without impact after it
        recovered = (t(last["bucket"]) + dt.timedelta(seconds=tl.get("bucket_s") or 0)).isoformat().replace("+00:00", "Z")
    root = next((f for f in report["findings"] if f["id"] == report.get("root_cause")), None)
    events = []
    if alert:
        events.append({"t": alert["start"], "kind": "alert", "f": alert})
    if imp.get("first"):
        events.append({"t": imp["first"], "kind": "first_error", "f": None})
    if root and root.get("start") and root is not alert:
        events.append({"t": root["start"], "kind": "root", "f": root})
    if peak:
        events.append({"t": peak["bucket"], "kind": "peak", "f": None, "row": peak})
    events.sort(key=lambda e: t(e["t"]))
    return {
        "first_error": imp.get("first"),
        "alert": alert,
        "root": root,
        "events": events,
        "peak_bucket_s": tl.get("bucket_s"),
        "last_impact": last["bucket"] if last else None,
        "recovered": recovered,
        "impact": [(IMPACT_WORDS.get(k, k), imp[k]) for k in IMPACT_WORDS if imp.get(k)],
        "window": w,
    }


def render_json(report: dict) -> str:
    """The report dict as JSON, each query's text once: findings, hypotheses and `queries` name the
    file and parameters, `sql_files` maps each file to its text."""
    texts: dict[str, str] = {}

    def ref(q):
        if not isinstance(q, dict) or "text" not in q:
            return q
        texts.setdefault(q["file"], q["text"])
        return {k: v for k, v in q.items() if k != "text"}

    out = {}
    for k, v in report.items():
        if k in ("findings", "hypotheses"):
            v = [{**x, "sql": ref(x["sql"])} if x.get("sql") else x for x in v]
        elif k == "queries":
            v = {name: ref(q) for name, q in v.items()}
        out[k] = v
    out["sql_files"] = texts
    return json.dumps(out, indent=2, sort_keys=False, default=str) + "\n"


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


def _wrap(text: str, width: int, lines: int) -> list[str]:
    """`text` in at most `lines` lines of about `width` characters, the last cut with an ellipsis."""
    out: list[str] = []
    for word in text.split():
        if out and len(out[-1]) + 1 + len(word) <= width:
            out[-1] += " " + word
        else:
            out.append(word[:width])
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return out


def svg_chain(report: dict, redact: Redactor) -> str:
    """The causal chain as an inline SVG drawn here (no script): one box per finding in the chain,
    columns by depth (a finding stands right of every finding that causes it), an arrow per link,
    dashed for a link by time only. Each box links to its finding's section."""
    by_id = {f["id"]: f for f in report["findings"]}
    links = [c for c in report["chain"] if c["cause"] in by_id and c["effect"] in by_id]
    nodes = [f["id"] for f in report["findings"] if any(f["id"] in (c["cause"], c["effect"]) for c in links)]
    if not nodes:
        return ""
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):  # longest path from a finding nothing causes; a cycle stops growing here
        changed = False
        for c in links:
            if depth[c["effect"]] < depth[c["cause"]] + 1 <= len(nodes) - 1:
                depth[c["effect"]] = depth[c["cause"]] + 1
                changed = True
        if not changed:
            break
    bw, bh, gx, gy, pad = 240, 70, 60, 18, 10
    cols: dict[int, list[str]] = {}
    for n in nodes:
        cols.setdefault(depth[n], []).append(n)
    pos = {n: (pad + d * (bw + gx), pad + i * (bh + gy)) for d, col in cols.items() for i, n in enumerate(col)}
    w = pad * 2 + (max(cols) + 1) * bw + max(cols) * gx
    h = pad * 2 + max(len(col) for col in cols.values()) * (bh + gy) - gy
    parts = [f'<svg class="chain" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="causal chain">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>']
    for c in links:
        (x1, y1), (x2, y2) = pos[c["cause"]], pos[c["effect"]]
        dash = ' stroke-dasharray="5 4"' if c.get("kind") == "time" else ""
        if x2 > x1:
            d = f"M {x1 + bw} {y1 + bh / 2} C {x1 + bw + gx / 2} {y1 + bh / 2}, {x2 - gx / 2} {y2 + bh / 2}, {x2} {y2 + bh / 2}"
        else:  # same column or backwards (a cycle): around the right side
            d = f"M {x1 + bw} {y1 + bh / 2} C {x1 + bw + gx} {y1 + bh / 2}, {x2 + bw + gx} {y2 + bh / 2}, {x2 + bw} {y2 + bh / 2}"
        parts.append(f'<path d="{d}" fill="none" stroke="#57606a" stroke-width="1.5"{dash} marker-end="url(#arrow)">'
                     f"<title>{html_text(redact(people(c.get('basis', ''))))}</title></path>")
    root = report.get("root_cause")
    for n in nodes:
        f, (x, y) = by_id[n], pos[n]
        stroke = "#cf222e" if n == root else "#57606a"
        parts.append(f'<a href="#{finding_anchor(f)}"><g class="node">'
                     f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6" fill="#f6f8fa" stroke="{stroke}" '
                     f'stroke-width="{2 if n == root else 1}"/>'
                     f'<text x="{x + 8}" y="{y + 16}" font-size="11" fill="#57606a">{html_text(f["rule"])}'
                     f'{" (root cause)" if n == root else ""}</text>')
        for i, line in enumerate(_wrap(redact(people(f["title"])), 33, 3)):
            parts.append(f'<text x="{x + 8}" y="{y + 33 + 14 * i}" font-size="12">{html_text(line)}</text>')
        parts.append("</g></a>")
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict, redact: Redactor, sql: str = "appendix", *, sql_file: str | None = None,
                skeleton: bool = False) -> str:
    """One self-contained HTML page (no scripts, styles or fonts from the network): the Markdown
    report rendered by markdown-it-py (CommonMark + tables). Every value from the logs is already
    escaped for Markdown (an escaped `<` opens no tag), so raw HTML in the page is only the
    templates' own (<details>, anchors). The Mermaid blocks become inline SVG drawn here: the
    chain (svg_chain; the list of its links follows it) and the timeline (svg_chart)."""
    from markdown_it import MarkdownIt

    md = render_markdown(report, redact, sql=sql, sql_file=sql_file, skeleton=skeleton)
    c = chart(report)
    mdit = MarkdownIt("commonmark", {"html": True}).enable("table")
    fence = mdit.renderer.rules["fence"]

    def no_mermaid(_renderer, tokens, idx, options, env):
        tok = tokens[idx]
        if tok.info.strip() == "mermaid":
            if tok.content.startswith("flowchart"):
                return svg_chain(report, redact) + "\n"
            return svg_chart(c) + "\n" if c and tok.content.startswith("xychart") else ""
        return fence(tokens, idx, options, env)

    mdit.add_render_rule("fence", no_mermaid)
    w = report.get("window") or {}
    title = f"Postmortem: {report.get('service') or 'all services'}" + (f", {w['start']} to {w['end']}" if w.get("start") else "")
    return HTML_PAGE.format(title=html_text(redact(title)), body=mdit.render(md))
