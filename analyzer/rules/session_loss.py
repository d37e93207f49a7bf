"""Session loss across workers: sessions kept in each worker's memory, so a user logged in on one
worker PID gets 401/403 ("session not found") when the next request lands on another."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding
from .base import Advice, RootRole, Rule

QUERIES = ("session_loss",)
SPAN_S = 300.0  # a success of the same session on another PID this long before the denial
MIN_DENIED = 5


def detect(ctx: Context) -> list[Finding]:
    out = []
    for r in ctx.run("session_loss", {"span_s": SPAN_S}):
        n = r["denied_cross_pid"]
        if n < MIN_DENIED or r["pids"] < 2 or n < r["denied"] / 2:
            continue
        why = [f"{n} of {r['denied']} 401/403 responses came for a session that had succeeded on another worker PID "
               f"within {SPAN_S:g} s (median {r['median_gap_s']:g} s before)",
               f"{r['denied_not_login_pid']} of them on another PID than the session's login",
               f"{r['users_affected']} of {r['users']} users and {r['sessions_affected']} of {r['sessions']} sessions affected; "
               f"{r['share_of_page_views_denied'] * 100:.1f} % of the {r['page_views']} page views denied",
               f"{r['pids']} worker PIDs serve the sessions"]
        ev = []
        if r["login_source_id"] is not None:
            ev.append(ctx.ev(r["login_source_id"], r["login_line_no"], r["login_message"]))
        ev.append(ctx.ev(r["example_source_id"], r["example_line_no"], r["example_message"]))
        out.append(Finding(
            rule="session_loss_across_workers", severity="incident" if r["users_affected"] >= 2 else "warning",
            confidence=round(min(0.6 + 0.35 * n / max(r["denied"], 1), 0.95), 2), confidence_reasons=why,
            title=f"Sessions lost across workers in {r['pod']}: {n} requests of {r['users_affected']} users denied on "
                  f"another worker than the one that holds their session",
            entity={"service": r["service"], "pod": r["pod"]},
            start=r["first_denied"], end=r["last_denied"],
            metrics={k: (v.isoformat().replace("+00:00", "Z") if hasattr(v, "isoformat") else v) for k, v in r.items()
                     if not k.endswith(("_source_id", "_line_no", "_message")) and k not in ("pod", "service")},
            evidence=ev, sql=ctx.sql_ref("session_loss"),
        ))
    return out


def summary(ctx: Context) -> list[str]:
    x = ctx.top("session_loss_across_workers")
    if not x:
        return []
    m = x.metrics
    return [f"In {x.pod}, {m['denied_cross_pid']} requests of {m['users_affected']} of {m['users']} users were denied "
            f"(401/403) on another worker PID than the one their session lived on ({m['share_of_page_views_denied'] * 100:.1f} % "
            f"of page views, from {m['first_denied']}): sessions are kept per worker."]


def explains(ctx: Context, f: Finding) -> dict:
    m = f.metrics
    return {"denied_sessions": (m["denied_cross_pid"], m["denied"])}


RULE = Rule(
    name="session_loss",
    produces=("session_loss_across_workers",),
    queries=QUERIES,
    detect=detect,
    summary=summary,
    summary_rank=37,
    impact_rank=17,
    advice=(Advice("share_session_store", "Keep sessions where every worker sees them: a shared store (Redis, the "
                   "database) instead of each worker's memory, or sticky routing of a session to one worker; a "
                   "signed stateless token also works.", ("session_loss_across_workers",), rank=36),),
    explains=explains,
    root=(RootRole("session_loss_across_workers", 6, "not_info"),),
)
