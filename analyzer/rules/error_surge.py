"""Error surge: an incident no rule knows is still an incident.

Error- and fatal-level lines and 5xx responses per pod are a series like deaths; a change point in
their rate (against the pod's own earlier rate, and measured against its sibling pods) is an
`error_surge` finding with its onset, entity and impact. Its explanation: the config, deploy or
restart lines of the pod shortly before the onset, and the log templates that appeared at the onset
(`template_surge`, run over the minute after the onset).

It runs last: when another rule already made an incident-level finding on the same pod, the surge is
that incident's symptom and stays at info level."""

from __future__ import annotations

import datetime as dt
import re

from ..context import Context
from ..findings import Finding, first_lines, isoed
from ..surge import template_surge
from .base import Advice, RootRole, Rule

QUERIES = ("upstreams", "error_surge", "change_markers")
AFTER_S = 60.0  # the onset's rate is measured over this long
MIN_EVENTS = 20  # bad events within AFTER_S after the onset
MIN_FACTOR = 10.0  # times the entity's own earlier rate
MIN_BEFORE_S = 120.0  # the entity must have been seen this long before the onset
MIN_5XX = 10  # failed responses that make a surge an impact of its own
CHANGE_LOOKBACK_S = 600.0  # config / deploy / restart lines this long before the onset explain it
ERROR_HEAD = re.compile(r"^\s*(?:[\w.$]+(?:Error|Exception)|Error)\b[^\n]*:\s*\S")


def error_text(message: str | None) -> str | None:
    """The error a multi-line entry carries: its first `SomethingError: ...` line, else its first line."""
    lines = [ln.strip() for ln in (message or "").split("\n") if ln.strip()]
    head = next((ln for ln in lines if ERROR_HEAD.match(ln)), None)
    if not lines:
        return None
    return f"{lines[0]}: {head}" if head and head != lines[0] else lines[0]


def impact_shown(r: dict) -> bool:
    """A change point is an incident when it cost responses (5xx), or when the pod's sibling pods, serving
    the same service in the same minute, stayed (nearly) free of errors: error lines alone in a log
    with no requests and no siblings (a batch job's, a syslog's) are noise as often as not."""
    if (r["http_5xx"] or 0) >= MIN_5XX:
        return True
    return bool(r["pod"] and r["siblings"] and (r["sibling_bad_after"] or 0) * MIN_FACTOR <= r["bad_after"])


def _explained(ctx: Context, pod: str | None) -> Finding | None:
    return next((f for f in ctx.findings if f.rule != "error_surge" and f.severity == "incident" and pod
                 and f.pod == pod), None)


def _templates_at(ctx: Context, pod: str | None, onset: dt.datetime) -> list[dict]:
    try:
        s = template_surge(ctx.con, onset, onset + dt.timedelta(seconds=AFTER_S), top=20)
    except Exception:  # noqa: BLE001 - a damaged source must not sink the finding
        return []
    out = []
    for r in s.get("rows") or []:
        if pod and pod not in (r.get("pods") or []):
            continue
        out.append({"template": ctx.redact(r["template"]), "window_count": r["window_count"],
                    "baseline_count": r["baseline_count"], "new": r["new"]})
    return out[:3]


def detect(ctx: Context) -> list[Finding]:
    rows = ctx.run("error_surge", {"after_s": AFTER_S, "min_events": MIN_EVENTS, "min_factor": MIN_FACTOR,
                                   "min_before_s": MIN_BEFORE_S, "upstreams": ctx.upstreams})
    out = []
    for r in rows:
        if not impact_shown(r):
            continue
        onset: dt.datetime = r["onset"]
        changes = []
        if r["pod"]:
            changes = ctx.run("change_markers", {"pods": r["pod"], "service": None, "app": None, "before": onset, "lookback_s": CHANGE_LOOKBACK_S},
                              key=f"change_markers:{r['pod']}")
        change = next((c for c in changes if c["kind"] in ("config", "deploy")), None) or (changes[0] if changes else None)
        new_error = error_text(r["example_message"])
        why = [f"{r['bad_after']} errors/5xx in the {AFTER_S:g} s after {onset.isoformat()} against "
               f"{r['bad_before']} in the {r['before_s']:g} s before (x{r['factor']:g} its own earlier rate)"]
        if r["siblings"]:
            why.append(f"its {r['siblings']} sibling pod(s) logged {r['sibling_bad_after']} errors/5xx in the same "
                       f"{AFTER_S:g} s ({r['sibling_requests_after']} responses)")
        if r["top_message_count"] and not r["top_message_before"]:
            why.append(f"the error '{first_lines(r['top_message'], 1, 120)}' is new: {r['top_message_count']} times "
                       f"from the onset, never before")
        if change:
            why.append(f"{change['seconds_before']:g} s before the onset: '{first_lines(change['message'], 1, 160)}'")
        explained = _explained(ctx, r["pod"])
        if explained:
            why.append(f"explained by {explained.rule} on the same pod: a symptom, not a cause of its own")
        metrics = isoed({k: v for k, v in r.items() if not k.startswith("example_") and k not in ("entity", "pod", "service")})
        metrics.update({
            "new_error": new_error,
            "after_s": AFTER_S,
            "change_before": ({"kind": change["kind"], "seconds_before": change["seconds_before"],
                               "version": change["version"], "line": ctx.redact(first_lines(change["message"], 1, 300))}
                              if change else None),
            "templates_at_onset": _templates_at(ctx, r["pod"], onset),
        })
        evidence = [ctx.ev(r["example_source_id"], r["example_line_no"], r["example_message"])]
        if change:
            evidence.insert(0, ctx.ev(change["source_id"], change["line_no"], change["message"]))
        impact = []
        if r["error_lines"]:
            impact.append(f"{r['error_lines']} error lines")
        if r["http_5xx"]:
            impact.append(f"{r['http_5xx']} 5xx responses")
        out.append(Finding(
            rule="error_surge", severity="info" if explained else "incident",
            confidence=round(min(0.5 + 0.1 * len(why), 0.9), 2), confidence_reasons=why,
            title=f"Errors surged on {r['entity']} from {onset.isoformat()}: " + ", ".join(impact)
                  + (f" ('{first_lines(new_error, 1, 100)}')" if new_error else ""),
            entity={"service": r["service"], "pod": r["pod"]},
            start=onset, end=r["last_bad"], metrics=metrics, evidence=evidence,
            sql=ctx.sql_ref("error_surge"),
        ))
    return out


def summary(ctx: Context) -> list[str]:
    x = ctx.top("error_surge")
    if not x:
        return []
    m = x.metrics
    s = (f"An error surge no known failure pattern explains: {x.pod or x.entity.get('service')} started failing at "
         f"{m['onset']} ({m['error_lines']} error lines, {m['http_5xx']} 5xx responses")
    if m.get("share_failed_after") is not None:
        s += f", {m['share_failed_after'] * 100:.1f} % of its responses from the onset on"
    s += ")"
    if m.get("new_error"):
        s += f" with '{first_lines(m['new_error'], 1, 140)}'"
    if m["siblings"]:
        s += f"; its {m['siblings']} sibling pod(s) logged {m['sibling_bad_after']} errors in the same minute"
    s += "."
    c = m.get("change_before")
    if c:
        s += f" {c['seconds_before']:g} s before, the pod logged: '{first_lines(c['line'], 1, 160)}'."
    return [s]


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    return {"errors": f.metrics["error_lines"] or 0, "http_5xx": f.metrics["http_5xx"] or 0}


RULE = Rule(
    name="error_surge",
    produces=("error_surge",),
    queries=QUERIES,
    detect=detect,
    summary=summary,
    summary_rank=90,
    impact_rank=90,
    advice=(Advice("review_change_before_surge", "Review (and roll back) the change logged shortly before the error "
                   "surge on the failing pod, compare it with the sibling pods that kept working, and alert on the "
                   "per-pod error and 5xx rate, not only on the service's.", ("error_surge",), rank=90),),
    explains=explains,
    root=(RootRole("error_surge", 20, "not_info"),),
)
