"""Crash-loop cause: what the crashing pod started with. For each exit precursor (a crash loop), the
startup lines of the pod before its first death (the version it started, its `config:` line) next
to the newest start of the service with another version (the previous release, on the same pod or
a sibling), the configuration keys that changed or are empty, and the one the error points at (an
empty database URL when the error is a refused connection to the driver's default address)."""

from __future__ import annotations

import re

from ..context import Context
from ..findings import Finding, Link, first_lines, iso
from .base import Advice, Rule

QUERIES = ("change_markers",)
LOOKBACK_S = 1800.0
KV = re.compile(r"\b([A-Za-z_][\w.]*)=(\"[^\"]*\"|'[^']*'|[^\s,;]*)")
ADDRESS = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}|localhost|\[::1?\]|::1)[:\s](\d{2,5})\b")
ADDRESS_KEY = re.compile(r"(?i)url|uri|dsn|host|addr|endpoint|server|port|conn")
CONNECT_ERRORS = re.compile(r"(?i)ECONNREFUSED|connection refused|ENOTFOUND|getaddrinfo|EAI_AGAIN|no such host|could not connect|cannot connect")
DEFAULT_ADDRESSES = re.compile(r"^(?:127\.0\.0\.1|localhost|\[::1\]|::1|0\.0\.0\.0)$")


def settings(line: str | None) -> dict[str, str]:
    """KEY=value pairs of a config line, quotes removed."""
    out = {}
    for k, v in KV.findall(line or ""):
        out[k] = v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'" else v
    return out


def _start(rows: list[dict], pod: str) -> tuple[dict | None, list[dict]]:
    """The pod's newest start (app_start) in rows, and its config lines logged after it."""
    start = next((r for r in rows if r["pod"] == pod and r["kind"] == "app_start"), None)
    if not start:
        return None, []
    cfg = [r for r in rows if r["pod"] == pod and r["kind"] == "config" and r["ts"] >= start["ts"]]
    return start, cfg


def _config_line(cfg: list[dict]) -> dict | None:
    """The startup config line with the most KEY=value settings."""
    best = max(cfg, key=lambda r: len(settings(r["message"])), default=None)
    return best if best and settings(best["message"]) else None


def detect(ctx: Context) -> list[Finding]:
    spirals = ctx.per_pod("worker_death_spiral")
    out = []
    for pod, pf in ctx.per_pod("exit_precursor").items():
        first_death = pf.start
        service = pf.entity.get("service")
        params = {"pods": pod, "service": service, "app": None, "before": first_death, "lookback_s": LOOKBACK_S}
        key = f"change_markers:crash:{pod}"
        rows = ctx.run("change_markers", params, key=key)
        rows.sort(key=lambda r: (r["ts"], r["line_no"]), reverse=True)
        new, new_cfg = _start(rows, pod)
        if not new:
            continue
        if new["app"]:  # the other pods that ran the same application (a sibling may carry another service name)
            rows = ctx.run("change_markers", {**params, "app": new["app"]}, key=key)
            rows.sort(key=lambda r: (r["ts"], r["line_no"]), reverse=True)
        # the previous release: the newest start before this one (this pod or another of its service) naming another version
        prev = next((r for r in rows if r["kind"] == "app_start" and r["ts"] < new["ts"]
                     and r["version"] and r["version"] != new["version"]
                     and (r["app"] == new["app"] or r["pod"] == pod or r["service"] == service)), None)
        prev_cfg = [r for r in rows if prev and r["pod"] == prev["pod"] and r["kind"] == "config"
                    and prev["ts"] <= r["ts"] < (new["ts"] if prev["pod"] == pod else first_death)]
        new_line, prev_line = _config_line(new_cfg), _config_line(prev_cfg)
        now, before = settings(new_line and new_line["message"]), settings(prev_line and prev_line["message"])
        empty = sorted(k for k, v in now.items() if v == "")
        changed = {k: [before.get(k), now.get(k)] for k in sorted(set(now) | set(before))
                   if before and before.get(k) != now.get(k) and k.lower() not in ("listen", "port", "host", "pid")}
        quoted = ctx.evidence("error", pod=pod, error_class=pf.metrics.get("precursor"), limit=5, key=f"evidence:crash:{pod}")
        error = "\n".join(e["text"] for e in quoted + pf.evidence) + " " + str(pf.metrics.get("precursor") or "")
        addr = ADDRESS.search(error)
        error_address = f"{addr.group(1)}:{addr.group(2)}" if addr else None
        suspect, why_suspect = None, None
        if CONNECT_ERRORS.search(error):
            for k in empty:
                if ADDRESS_KEY.search(k):
                    suspect = k
                    why_suspect = (f"{k} is empty, so the client fell back to its default"
                                   + (f" {error_address}" if error_address and DEFAULT_ADDRESSES.match(addr.group(1)) else "")
                                   + f", where the connection is refused ({first_lines(error, 1, 100)})")
                    break
        if not suspect:
            for k, (_old, val) in changed.items():
                if val and len(val) >= 3 and val in error:
                    suspect, why_suspect = k, f"the error names {k}'s new value {val!r}"
                    break
        version_change = bool(prev and prev["version"] != new["version"])
        if not (version_change or empty or changed):
            continue
        why = []
        if version_change:
            why.append(f"{pod} started {new['app'] or 'the service'} {new['version']} at {iso(new['ts'])}, "
                       f"{new['seconds_before']:g} s before its first worker death; {prev['pod']} ran {prev['version']} before")
        if changed:
            why.append("configuration changed: " + ", ".join(f"{k} {o!r} -> {n!r}" for k, (o, n) in changed.items()))
        if empty:
            why.append("empty in the startup config: " + ", ".join(empty))
        if why_suspect:
            why.append(why_suspect)
        why = [ctx.redact(w) for w in why]
        ev = [ctx.ev(new["source_id"], new["line_no"], new["message"])]
        if new_line:
            ev.append(ctx.ev(new_line["source_id"], new_line["line_no"], new_line["message"]))
        if prev:
            ev.append(ctx.ev(prev["source_id"], prev["line_no"], prev["message"]))
        if prev_line:
            ev.append(ctx.ev(prev_line["source_id"], prev_line["line_no"], prev_line["message"]))
        title = f"{pod}'s crash loop began with " + (f"{new['version']} (was {prev['version']})" if version_change else "a config change")
        if suspect:
            title += f": {suspect} is {'empty' if suspect in empty else repr(now.get(suspect))}"
        sp = spirals.get(pod)
        out.append(Finding(
            rule="crash_loop_cause", severity="incident" if suspect else "warning",
            confidence=round(min(0.5 + 0.12 * len(why), 0.9), 2), confidence_reasons=why, title=title,
            entity={"service": service, "pod": pod, "host": pf.entity.get("host"), "container": pf.entity.get("container")},
            start=new["ts"], end=sp.end if sp else pf.end,
            metrics={
                "new_version": new["version"], "previous_version": prev["version"] if prev else None,
                "previous_pod": prev["pod"] if prev else None, "version_change_at": iso(new["ts"]),
                "seconds_before_first_death": new["seconds_before"],
                "new_start_line": ctx.redact(first_lines(new["message"], 1, 300)),
                "previous_start_line": ctx.redact(first_lines(prev["message"], 1, 300)) if prev else None,
                "new_config_line": ctx.redact(first_lines(new_line["message"], 1, 300)) if new_line else None,
                "previous_config_line": ctx.redact(first_lines(prev_line["message"], 1, 300)) if prev_line else None,
                "changed": {k: [ctx.redact(str(o)) if o is not None else None, ctx.redact(str(n)) if n is not None else None]
                            for k, (o, n) in changed.items()},
                "empty": empty, "suspect_key": suspect, "error_address": error_address,
                "precursor": pf.metrics.get("precursor"), "explains": None,
            },
            evidence=ev, sql=ctx.sql_ref(f"change_markers:crash:{pod}"),
        ))
    return out


def links(ctx: Context) -> list[Link]:
    """The startup config explains the crash loop's deaths; the exit precursor stays the root cause (it is
    what every death shows), this finding names the line behind it (`explains`: the precursor's id)."""
    out = []
    precursors, spirals = ctx.per_pod("exit_precursor"), ctx.per_pod("worker_death_spiral")
    for pod, c in ctx.per_pod("crash_loop_cause").items():
        pf = precursors.get(pod)
        if pf:
            c.metrics["explains"] = pf.id
        if pod in spirals:
            basis = (c.metrics["suspect_key"] + " empty/changed at startup" if c.metrics["suspect_key"]
                     else "startup version/config change") + f", {c.metrics['seconds_before_first_death']:g} s before the first death"
            out.append(Link(c, spirals[pod], basis))
    return out


def summary(ctx: Context) -> list[str]:
    c = ctx.top("crash_loop_cause")
    if not c:
        return []
    m = c.metrics
    s = f"The crash loop began with {m['new_version']}"
    if m["previous_version"]:
        s += f" (the previous start ran {m['previous_version']})"
    if m["suspect_key"]:
        s += f"; its startup config has {m['suspect_key']} " + ("empty" if m["suspect_key"] in m["empty"] else "changed")
        if m["error_address"]:
            s += f", and the workers connect to {m['error_address']} instead"
    elif m["changed"]:
        s += "; its startup config changed " + ", ".join(m["changed"])
    return [s + "."]


RULE = Rule(
    name="crash_loop_cause",
    produces=("crash_loop_cause",),
    needs=("exit_precursor", "worker_death_spiral"),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    summary_rank=55,
    impact_rank=55,
    advice=(Advice("fix_startup_config", "Fix the configuration value the crash points at (set it, or make the "
                   "service refuse to start with a clear message when it is empty instead of falling back to a "
                   "default), and validate required settings in the rollout (readiness) so a bad release stops "
                   "before it replaces the working one.", ("crash_loop_cause",), rank=65),),
)
