"""Resource-exhaustion chain: why a pod ran out (trigger -> mechanism -> symptoms, with numbers).

For each resource_exhaustion finding: the descriptor limit the pod logged, the load step (request
rate in the minute before the first sign against the rate before), EMFILE split by call, what grew
during the run-up (a queue, in-flight calls, a cache: the integer counters of its memory lines),
memory growth, and the status mix from the first sign on. Two mechanisms, each with its own fix:
work accepted faster than it is finished (`backpressure_chain`: EMFILE, a growing queue) and an
unbounded cache (`unbounded_cache`: a cache counter that only grows, with the memory). A heap OOM
(V8 `FATAL ERROR ... heap limit`, exit 134) is kept apart from an OOM kill (exit 137, `OOMKilled`)."""

from __future__ import annotations

import re

from ..context import Context
from ..findings import Finding, Link
from .base import Advice, Rule

QUERIES = ("exhaustion_chain",)
CUMULATIVE = re.compile(r"(?i)served|total|count|requests|hits|misses|errors|handled|processed|done|sent|received")
CACHE = re.compile(r"(?i)cache|entries|memo|store")
QUEUE = re.compile(r"(?i)queue|pending|backlog|in_?flight|open|waiting|buffer|jobs|retries")


def _grew(c: dict) -> bool:
    first, last = c["first_value"] or 0.0, c["last_value"] or 0.0
    return (c["n"] >= 5 and (c["rising_share"] or 0) >= 0.8 and last - first >= 10 and last >= 2 * max(first, 1)
            and not CUMULATIVE.search(c["name"]))


def detect(ctx: Context) -> list[Finding]:
    found = ctx.per_pod("resource_exhaustion")
    if not found:
        return []
    rows = ctx.run("exhaustion_chain", {"pods": ",".join(sorted(found))})
    out = []
    for pod, rx in found.items():
        mine = [r for r in rows if r["pod"] == pod]
        sec = {s: [r for r in mine if r["section"] == s]
               for s in ("fd_limit", "emfile_call", "counter", "memory", "load", "status", "first_line")}
        first_line = sec["first_line"][0]["first_ts"] if sec["first_line"] else None
        fd_limit = next((r["last_value"] for r in sec["fd_limit"]), None)
        calls = {r["name"]: r["n"] for r in sec["emfile_call"]}
        grown = [r for r in sec["counter"] if _grew(r)]
        caches = [r for r in grown if CACHE.search(r["name"]) and not QUEUE.search(r["name"])]
        queues = [r for r in grown if QUEUE.search(r["name"])]
        memory = {r["name"]: r for r in sec["memory"]}
        load = sec["load"][0] if sec["load"] else None
        status = {r["name"]: r["n"] for r in sec["status"]}
        m = rx.metrics
        death = ("heap_limit" if m.get("heap_oom") else "oom_kill" if m.get("oom_killed") else None)
        mem_growth = {k: round(v["growth_per_s"], 3) for k, v in memory.items() if v["growth_per_s"] is not None}
        base = {
            "fd_limit": fd_limit, "emfile_by_call": calls, "emfile": m.get("emfile"),
            "grew": {r["name"]: {"first": r["first_value"], "last": r["last_value"], "per_s": round(r["growth_per_s"] or 0, 3)}
                     for r in grown},
            "memory_growth_mb_per_s": mem_growth,
            "memory_first_last_mb": {k: [v["first_value"], v["last_value"]] for k, v in memory.items()},
            "requests_per_s_before": round(load["rate_before_per_s"], 3) if load and load["rate_before_per_s"] is not None else None,
            "requests_per_s_step": round(load["rate_after_per_s"], 3) if load and load["rate_after_per_s"] is not None else None,
            "status_mix": status, "death": death,
            "exit_code": 134 if death == "heap_limit" else 137 if death == "oom_kill" else None,
        }
        growth_txt = ", ".join(f"{k} {v[0]:g} -> {v[1]:g} MB" for k, v in base["memory_first_last_mb"].items()
                               if v[0] is not None and v[1] is not None)
        if caches and (death or any(v > 0 for v in mem_growth.values())):
            c = caches[0]
            why = [f"{c['name']} only grew: {c['first_value']:g} -> {c['last_value']:g} over {c['n']} memory lines "
                   f"({(c['rising_share'] or 0) * 100:.0f} % of the steps up, {c['growth_per_s']:.1f}/s)",
                   f"memory grew with it: {growth_txt}" + (f" ({', '.join(f'{k} {v:g}/s' for k, v in mem_growth.items())})" if mem_growth else "")]
            if death == "heap_limit":
                why.append("it ended in a V8 heap-limit abort (heap OOM, exit 134): the process hit its own heap limit, not the container's")
            elif death == "oom_kill":
                why.append("it ended in an OOM kill (exit 137): the container's memory limit, not the heap's")
            out.append(Finding(
                rule="unbounded_cache", severity="warning", confidence=0.8, confidence_reasons=why,
                title=f"{pod}: unbounded cache ({c['name']} {c['first_value']:g} -> {c['last_value']:g}) grew the memory"
                      + (" until the heap limit (exit 134)" if death == "heap_limit" else " until an OOM kill (exit 137)" if death == "oom_kill" else ""),
                entity=dict(rx.entity), start=first_line or c["first_ts"], end=rx.end,  # it grew from the start
                metrics={**base, "mechanism": "unbounded_cache", "cache": c["name"]},
                evidence=list(rx.evidence), sql=ctx.sql_ref("exhaustion_chain"),
            ))
        elif calls or queues:
            why = []
            if fd_limit is not None:
                why.append(f"the pod logged a descriptor limit of {fd_limit:g}")
            if base["requests_per_s_step"] is not None and base["requests_per_s_before"] is not None:
                why.append(f"load step: {base['requests_per_s_before']:g} -> {base['requests_per_s_step']:g} requests/s "
                           f"in the minute before the first sign")
            if calls:
                why.append(f"{sum(calls.values())} EMFILE by call: " + ", ".join(f"{k} {v}" for k, v in calls.items()))
            for q in queues:
                why.append(f"{q['name']} grew {q['first_value']:g} -> {q['last_value']:g} ({q['growth_per_s']:.1f}/s)")
            if growth_txt:
                why.append(f"memory: {growth_txt}")
            if status:
                why.append("status mix from the first sign on: " + ", ".join(f"{k} x{v}" for k, v in status.items()))
            out.append(Finding(
                rule="backpressure_chain", severity="warning", confidence=round(min(0.5 + 0.1 * len(why), 0.9), 2),
                confidence_reasons=why,
                title=f"{pod}: work accepted faster than finished"
                      + (f" ({', '.join(q['name'] for q in queues)} grew)" if queues else "")
                      + (f", descriptors ran out ({', '.join(calls)})" if calls else ""),
                entity=dict(rx.entity), start=rx.start, end=rx.end,
                metrics={**base, "mechanism": "backpressure", "queues": [q["name"] for q in queues]},
                evidence=list(rx.evidence), sql=ctx.sql_ref("exhaustion_chain"),
            ))
    return out


def links(ctx: Context) -> list[Link]:
    found = ctx.per_pod("resource_exhaustion")
    out = []
    for rule, basis in (("unbounded_cache", "the cache grew with the memory until it ran out"),
                        ("backpressure_chain", "queued work held descriptors and memory until they ran out")):
        for pod, f in ctx.per_pod(rule).items():
            if pod in found:
                out.append(Link(f, found[pod], basis))
    return out


def summary(ctx: Context) -> list[str]:
    out = []
    c = ctx.top("unbounded_cache")
    if c:
        m = c.metrics
        g = m["grew"][m["cache"]]
        out.append(f"The memory grew with an unbounded cache ({m['cache']} {g['first']:g} -> {g['last']:g})"
                   + ("; it ended in a heap-limit abort (exit 134), not an OOM kill" if m["death"] == "heap_limit"
                      else "; it ended in an OOM kill (exit 137)" if m["death"] == "oom_kill" else "") + ".")
    b = ctx.top("backpressure_chain")
    if b:
        m = b.metrics
        bits = []
        if m["fd_limit"] is not None:
            bits.append(f"descriptor limit {m['fd_limit']:g}")
        if m["emfile_by_call"]:
            bits.append("EMFILE by call " + ", ".join(f"{k} {v}" for k, v in m["emfile_by_call"].items()))
        bits += [f"{k} {v['first']:g} -> {v['last']:g}" for k, v in m["grew"].items()]
        out.append("Work was accepted faster than it was finished: " + "; ".join(bits) + ".")
    return out


RULE = Rule(
    name="exhaustion_chain",
    produces=("backpressure_chain", "unbounded_cache"),
    needs=("resource_exhaustion",),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    summary_rank=41,
    impact_rank=11,
    advice=(Advice("bound_the_cache", "Bound the cache: an LRU with a maximum size (and a TTL) instead of a map that "
                   "only grows; then size the limit that killed it: the V8 heap (--max-old-space-size) for a heap-limit "
                   "abort (exit 134), the container's memory limit for an OOM kill (exit 137); alert on heap and RSS growth.",
                   ("unbounded_cache",), rank=49),),
)
