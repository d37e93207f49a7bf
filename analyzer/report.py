"""Reason over detector results: find the window, build findings, link the chain, test hypotheses."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import statistics
from dataclasses import dataclass

import duckdb

from .. import __version__
from .redact import Redactor
from .sqlrun import Runner
from .surge import template_surge

SCHEMA_VERSION = 1
SEVERITY_ORDER = {"incident": 0, "warning": 1, "info": 2}
UTC = dt.UTC


@dataclass
class Options:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    service: str | None = None
    tolerance_s: float = 2.0
    server_class: str = "response_closed"
    client_classes: str = "context_cancelled,read_timeout"
    rare_share: float = 0.05
    gap_min: int = 10
    pad_before_s: int = 120
    pad_after_s: int = 60
    near_miss_after_s: int = 900
    max_lag_s: int = 5
    peers: dict | None = None  # [peers] in pmortem.toml: address -> service name
    block_lag_ms: float = 500.0  # event-loop lag at or above this is a block
    precursor_s: float = 2.0  # an error this close before a worker exit counts as its precursor
    deploy_lookback_s: float = 1800.0  # how far before the first death a deploy marker is looked for
    evidence_lines: int = 5
    command: str = "pmortem report"


def iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def finding_id(rule: str, service: str | None, pod: str | None, start: dt.datetime | None) -> str:
    key = f"{rule}|{service or ''}|{pod or ''}|{iso(start) or ''}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def _r(x, nd=3):
    if x is None:
        return None
    if isinstance(x, float):
        return round(x, nd)
    return x


def _first_lines(msg: str | None, n: int = 2, limit: int = 400) -> str:
    if not msg:
        return ""
    lines = [ln for ln in str(msg).split("\n") if ln.strip()][:n]
    s = "\n".join(lines)
    return s if len(s) <= limit else s[: limit - 1] + "…"


class Analysis:
    def __init__(self, con: duckdb.DuckDBPyConnection, opts: Options, redact: Redactor):
        self.con = con
        self.opts = opts
        self.redact = redact
        self.runner = Runner(con)
        con.execute("SET TimeZone = 'UTC'")
        self.paths = {sid: p for sid, p in con.execute("SELECT source_id, path FROM sources").fetchall()}

    # ------------------------------------------------------------------ helpers
    def ev(self, source_id, line_no, text) -> dict:
        return {"source": self.redact(self.paths.get(source_id, f"source {source_id}")), "line": line_no,
                "text": self.redact(_first_lines(text))}

    def evidence(self, kind, pod=None, error_class=None, limit=None, key=None) -> list[dict]:
        rows = self.runner.run("evidence", {**self.base, "kind": kind, "pod": pod, "error_class": error_class,
                                            "limit": limit or self.opts.evidence_lines}, key=key)
        return [self.ev(r["source_id"], r["line_no"], r["message"]) for r in rows]

    # ------------------------------------------------------------------ window
    def find_window(self) -> dict:
        o = self.opts
        info: dict = {"basis": "given", "first_bad": None, "last_bad": None}
        if o.since and o.until:
            return {**info, "start": o.since, "end": o.until}
        rows = self.runner.run("incident_window", {"service": o.service, "gap_min": o.gap_min})
        w = rows[0] if rows else {}
        if w.get("first_bad"):
            start = w["first_bad"] - dt.timedelta(seconds=o.pad_before_s)
            end = w["last_bad"] + dt.timedelta(seconds=o.pad_after_s)
            start = start.replace(second=0, microsecond=0)
            info = {"basis": "detected: densest island of worker exits and errors", **{k: w[k] for k in w}}
        else:
            lo, hi = self.con.execute("SELECT min(ts), max(ts) FROM events WHERE ts IS NOT NULL").fetchone()
            if lo is None:
                lo = hi = dt.datetime.now(UTC)
            start, end = lo, hi + dt.timedelta(microseconds=1)
            info = {**info, "basis": "no worker exits or errors found: the whole time range of the data"}
        start = o.since or start
        end = o.until or end
        return {**info, "start": start, "end": end}

    # ------------------------------------------------------------------ main
    def run(self) -> dict:
        o = self.opts
        win = self.find_window()
        self.window = win
        self.base = {"since": win["start"], "until": win["end"]}
        p_err = {"server_class": o.server_class, "client_classes": o.client_classes}
        findings: list[dict] = []
        chain: list[dict] = []
        hypotheses: list[dict] = []

        survey = self.runner.run("host_shape_survey", {**self.base, "rare_share": o.rare_share})
        life = self.runner.run("worker_lifecycle", {**self.base, "service": o.service})
        amp = self.runner.run("request_amplification", {**self.base, "service": o.service})
        paired = self.runner.run("paired_errors", {**self.base, "tolerance_s": o.tolerance_s, **p_err})
        coverage = self.runner.run("coverage", self.base)

        if o.service:
            survey = [s for s in survey if (s["pod"] or "").startswith(o.service + "-") or s["service"] in (o.service, o.service + "-service")]
        dist: dict[int, int] = {}
        for s in survey:
            dist[s["cpu_count"]] = s["observations_of_value"]
        deaths_by_pod = {r["pod"]: r for r in life}

        # ---- worker death spirals (mechanism)
        spirals = {}
        for r in life:
            if r["exits"] >= 5:
                sev = "incident" if (r["peak_deaths_per_s"] >= 2 or r["exits"] >= 20) else "warning"
                conf, why = 0.6, ["worker exits counted from the primary's own log lines"]
                if r["median_respawn_latency_s"] is not None and r["median_respawn_latency_s"] < 1:
                    conf += 0.15
                    why.append(f"respawned after a median {r['median_respawn_latency_s']} s: no backoff delay")
                if not r["respawn_backs_off"]:
                    conf += 0.1
                    why.append(f"respawn delay does not grow (backoff ratio {r['backoff_ratio']})")
                if r["sigkill_exits"] >= r["exits"] / 2:
                    conf += 0.1
                    why.append(f"{r['sigkill_exits']} of {r['exits']} exits by SIGKILL (cgroup OOM killer)")
                f = {
                    "rule": "worker_death_spiral", "severity": sev, "confidence": round(min(conf, 0.99), 2),
                    "confidence_reasons": why,
                    "title": f"Worker death spiral in {r['pod']}",
                    "entity": {"service": r["service"], "pod": r["pod"], "host": r["host"]},
                    "start": r["first_exit"], "end": r["last_exit"],
                    "metrics": {"deaths": r["exits"], "worker_starts": r["starts"], "peak_deaths_per_s": r["peak_deaths_per_s"],
                                "peak_second": iso(r["peak_second"]), "mean_deaths_per_s": r["mean_deaths_per_s"],
                                "median_lifetime_s": r["median_lifetime_s"], "p90_lifetime_s": r["p90_lifetime_s"],
                                "median_respawn_latency_s": r["median_respawn_latency_s"],
                                "p90_respawn_latency_s": r["p90_respawn_latency_s"],
                                "max_respawn_latency_s": r["max_respawn_latency_s"],
                                "backoff_ratio": r["backoff_ratio"], "respawn_backs_off": r["respawn_backs_off"],
                                "exit_codes": r["exit_codes"]},
                    "evidence": self.evidence("worker_exit", pod=r["pod"], key=f"evidence:death:{r['pod']}")
                    + self.evidence("worker_start", pod=r["pod"], limit=2, key=f"evidence:start:{r['pod']}"),
                    "sql": self.runner.sql_ref("worker_lifecycle"),
                }
                spirals[r["pod"]] = f
                findings.append(f)
        dying = set(spirals)

        # ---- host shape (trigger)
        triggers = {}
        for s in survey:
            if not (s["is_outlier"] and s["in_window"]):
                continue
            d = deaths_by_pod.get(s["pod"])
            sev = "incident" if s["pod"] in dying else "warning"
            conf, why = 0.5, [f"{s['cpu_count']} cores seen in {s['observations_of_value']} of {s['observations_total']} starts ({s['share']:.1%})"]
            if s["cpu_limit"]:
                if s["cores_over_limit"] and s["cores_over_limit"] >= 4:
                    conf += 0.2
                    why.append(f"{s['cpu_count']} cores seen vs a CPU limit of {s['cpu_limit']:g} ({s['limit_basis']}): os.cpus() leaks the host's cores")
            else:
                why.append("no pod object or config gives the CPU limit")
            if s["pod"] in dying:
                conf += 0.2
                why.append(f"the same pod then lost {d['exits']} workers")
            f = {
                "rule": "host_shape_outlier", "severity": sev, "confidence": round(min(conf, 0.99), 2),
                "confidence_reasons": why,
                "title": f"{s['pod']} started on a {s['cpu_count']}-core host ({s['host']})",
                "entity": {"service": s["service"], "pod": s["pod"], "host": s["host"]},
                "start": s["ts"], "end": s["ts"],
                "metrics": {"cpu_count": s["cpu_count"], "cpu_limit": s["cpu_limit"], "limit_basis": s["limit_basis"],
                            "cores_over_limit": s["cores_over_limit"],
                            "observations_in_history": s["observations_of_value"], "observations_total": s["observations_total"],
                            "share": s["share"], "median_cpu_count": s["median_cpu_count"],
                            "distribution": {str(k): v for k, v in sorted(dist.items())}},
                "evidence": [self.ev(s["source_id"], s["line_no"], s["message"])],
                "sql": self.runner.sql_ref("host_shape_survey"),
            }
            triggers[s["pod"]] = f
            findings.append(f)
        if not triggers:
            leaks = [s for s in survey if s["in_window"] and s["cores_over_limit"] and s["cores_over_limit"] > 1]
            if leaks:
                s0 = max(leaks, key=lambda s: s["cores_over_limit"])
                findings.append({
                    "rule": "cpu_count_above_limit", "severity": "info", "confidence": 0.8,
                    "confidence_reasons": ["CPU-count lines compared with the pod's CPU limit"],
                    "title": f"{len(leaks)} pod start(s) saw more cores than their CPU limit (up to {s0['cpu_count']} vs {s0['cpu_limit']:g})",
                    "entity": {"service": s0["service"], "pod": None, "host": None},
                    "start": min(s["ts"] for s in leaks), "end": max(s["ts"] for s in leaks),
                    "metrics": {"pods": len(leaks), "max_cpu_count": s0["cpu_count"], "cpu_limit": s0["cpu_limit"],
                                "limit_basis": s0["limit_basis"], "distribution": {str(k): v for k, v in sorted(dist.items())}},
                    "evidence": [self.ev(s["source_id"], s["line_no"], s["message"]) for s in leaks[: o.evidence_lines]],
                    "sql": self.runner.sql_ref("host_shape_survey"),
                })

        # ---- request amplification (symptom)
        amp_f = None
        inc_rows = [a for a in amp if a["pod"] in dying]
        ctl_rows = [a for a in amp if a["pod"] not in dying and a["deaths"] == 0]
        if inc_rows:
            inc_per_min = sum(a["calls"] / a["window_min"] for a in inc_rows) / len(inc_rows)
            normal = statistics.median(a["calls"] / a["window_min"] for a in ctl_rows) if ctl_rows else None
            factor = round(inc_per_min / normal, 2) if normal else None
            corr = [a["corr_calls_starts"] for a in inc_rows if a["corr_calls_starts"] is not None]
            if factor is None or factor >= 1.5:
                top = max(inc_rows, key=lambda a: a["calls"])
                why = [f"calls per minute of the dying pod(s) vs the median of {len(ctl_rows)} control pod(s) of the same service in the same window"]
                conf = 0.6
                if corr and max(corr) >= 0.5:
                    conf += 0.25
                    why.append(f"calls track worker starts second by second (r = {max(corr)})")
                if not ctl_rows:
                    conf -= 0.2
                    why.append("no control pods: no normal rate to compare")
                amp_f = {
                    "rule": "request_amplification", "severity": "warning", "confidence": round(conf, 2),
                    "confidence_reasons": why,
                    "title": f"{top['pod']} called {self.peer_name(top['peer'])} {factor if factor else '?'}x as often as healthy pods",
                    "entity": {"service": top["service"], "pod": top["pod"], "host": spirals[top["pod"]]["entity"]["host"]},
                    "start": self.window["start"], "end": self.window["end"],
                    "metrics": {"normal_per_min": _r(normal, 2), "incident_per_min": _r(inc_per_min, 2), "factor": factor,
                                "peer": top["peer"], "peer_service": self.peer_services().get(top["peer"]),
                                "incident_calls": sum(a["calls"] for a in inc_rows),
                                "control_pods": len(ctl_rows), "corr_calls_worker_starts": max(corr) if corr else None,
                                "window_min": top["window_min"], "basis": top["basis"]},
                    "evidence": self.evidence("dependency_call", pod=top["pod"], key=f"evidence:calls:{top['pod']}"),
                    "sql": self.runner.sql_ref("request_amplification"),
                }
                findings.append(amp_f)

        # ---- paired client/server errors (symptom)
        pe_f = None
        if paired:
            pairs = [p for p in paired if p["link"]]
            links: dict[str, int] = {}
            for p in pairs:
                links[p["link"]] = links.get(p["link"], 0) + 1
            aligned = [p for p in paired if p["death_aligned"]]
            offs = [p["offset_s"] for p in pairs if p["offset_s"] is not None]
            doffs = [p["death_offset_s"] for p in aligned if p["death_offset_s"] is not None]
            client_total = paired[0]["client_errors_total"]
            conf = statistics.mean(p["link_confidence"] for p in pairs) if pairs else 0.4
            why = [f"{len(pairs)} of {len(paired)} server errors paired with a client error ({', '.join(f'{k}: {v}' for k, v in sorted(links.items())) or 'none'})",
                   f"{len(aligned)} of {len(paired)} server errors within {o.tolerance_s:g} s of a worker death"]
            if len(aligned) >= len(paired) / 2:
                conf = min(conf + 0.2, 0.99)
            ex = [self.ev(p["server_source_id"], p["server_line"], p["server_message"]) for p in paired[: 3]]
            ex += [self.ev(p["client_source_id"], p["client_line"], p["client_message"]) for p in pairs[: 3]]
            server_name = paired[0]["server_service"]
            pe_f = {
                "rule": "paired_client_server_errors", "severity": "warning", "confidence": round(conf, 2),
                "confidence_reasons": why,
                "title": f"{server_name} logged {len(paired)} '{o.server_class}' errors: the other side of dying callers",
                "entity": {"service": server_name, "pod": None},
                "start": paired[0]["server_ts"], "end": paired[-1]["server_ts"],
                "metrics": {"server_errors": len(paired), "client_errors": client_total, "pairs": len(pairs),
                            "tolerance_s": o.tolerance_s, "links": links,
                            "median_offset_s": _r(statistics.median(offs)) if offs else None,
                            "death_aligned": len(aligned), "death_aligned_share": _r(len(aligned) / len(paired)),
                            "median_death_offset_s": _r(statistics.median(doffs)) if doffs else None,
                            "caller_pods": sorted({p["caller_pod"] or p["death_pod"] for p in aligned if (p["caller_pod"] or p["death_pod"])}),
                            "server_class": o.server_class, "client_classes": o.client_classes.split(",")},
                "evidence": ex,
                "sql": self.runner.sql_ref("paired_errors"),
            }
            findings.append(pe_f)

        # ---- what came just before the deaths: a recurring error (crash loop), a deploy
        precursors: dict[str, dict] = {}
        deploys: dict[str, dict] = {}
        if dying:
            rows = self.runner.run("exit_precursors", {**self.base, "pods": ",".join(sorted(dying)), "before_s": o.precursor_s})
            for r in rows:
                if r["pod"] in precursors:
                    continue
                sp = spirals[r["pod"]]
                killed = self._sigkills(sp)
                if r["share"] < 0.8 or killed >= sp["metrics"]["deaths"] / 2:
                    continue
                f = {
                    "rule": "exit_precursor", "severity": "incident", "confidence": round(min(0.5 + 0.45 * r["share"], 0.95), 2),
                    "confidence_reasons": [
                        f"{r['exits_preceded']} of {r['exits']} worker exits came within {o.precursor_s:g} s after this error "
                        f"(median {r['median_gap_s']} s before the exit)",
                        f"{sp['metrics']['deaths'] - killed} of {sp['metrics']['deaths']} workers exited by themselves (not killed by a signal)",
                    ],
                    "title": f"Workers of {r['pod']} die right after '{_first_lines(r['precursor'], 1, 120)}'",
                    "entity": {"service": sp["entity"].get("service"), "pod": r["pod"], "host": sp["entity"].get("host")},
                    "start": sp["start"], "end": sp["end"],
                    "metrics": {"precursor": r["precursor"], "exits": r["exits"], "exits_preceded": r["exits_preceded"],
                                "share": r["share"], "median_gap_s": r["median_gap_s"], "before_s": o.precursor_s},
                    "evidence": [self.ev(r["example_source_id"], r["example_line_no"], r["example_message"])],
                    "sql": self.runner.sql_ref("exit_precursors"),
                }
                precursors[r["pod"]] = f
                findings.append(f)
            pods = sorted(dying)
            rows = self.runner.run("deploy_markers", {"until": win["end"], "pods": ",".join(pods),
                                                      "first_deaths": ",".join(iso(spirals[p]["start"]) for p in pods),
                                                      "lookback_s": o.deploy_lookback_s})
            for r in rows:
                gap = r["seconds_before_first_death"]
                f = {
                    "rule": "deploy_before_deaths", "severity": "warning",
                    "confidence": 0.8 if gap <= 120 else 0.6,
                    "confidence_reasons": [f"logged {gap:g} s before the first worker death in {r['pod']}",
                                           "the newest deploy or config change of the service before the deaths"],
                    "title": f"Deploy logged {gap:g} s before the first worker death in {r['pod']}",
                    "entity": {"service": spirals[r["pod"]]["entity"].get("service"), "pod": r["pod"]},
                    "start": r["deploy_ts"], "end": r["deploy_ts"],
                    "metrics": {"seconds_before_first_death": gap, "lookback_s": o.deploy_lookback_s},
                    "evidence": [self.ev(r["source_id"], r["line_no"], r["message"])],
                    "sql": self.runner.sql_ref("deploy_markers"),
                }
                deploys[r["pod"]] = f
                findings.append(f)

        # ---- feedback-loop hypothesis
        if dying:
            fl = self.runner.run("feedback_loop", {**self.base, "tolerance_s": o.tolerance_s, "max_lag_s": o.max_lag_s,
                                                   **p_err, "trigger_pods": ",".join(sorted(dying))})[0]
            lead = fl["deaths_lead_errors_s"]
            reasons = []
            votes_against = votes_for = 0
            tol = o.tolerance_s
            crash = [precursors[p] for p in sorted(precursors)]
            if lead is None and crash:
                pc = crash[0]["metrics"]
                reasons.append(f"no '{o.server_class}' or '{o.client_classes}' errors, but {pc['exits_preceded']} of {pc['exits']} "
                               f"workers died within {o.precursor_s:g} s after a '{_first_lines(pc['precursor'], 1, 80)}' error, "
                               f"and every respawn met it again")
                votes_for += 2
            elif lead is None:
                reasons.append("no dependency errors in the window: nothing could have caused the deaths")
                votes_against += 2
            elif abs(lead) <= tol:
                reasons.append(f"first death and first dependency error are {abs(lead)} s apart, within the {tol:g} s tolerance: no order can be claimed")
            elif lead > 0:
                reasons.append(f"the first death came {lead} s before the first dependency error")
                votes_against += 1
            else:
                reasons.append(f"dependency errors began {-lead} s before the first death")
                votes_for += 1
            r_best = fl["best_lag_corr"]
            if r_best is None or r_best < 0.3:
                reasons.append(f"per-second deaths do not follow per-second dependency errors at any lag within {o.max_lag_s} s "
                               f"(best r = {r_best if r_best is not None else 'n/a'})")
                votes_against += 1
            elif fl["best_lag_s"] > 0:
                reasons.append(f"per-second errors follow deaths (best correlation at +{fl['best_lag_s']} s, r = {r_best})")
                votes_against += 1
            elif fl["best_lag_s"] < 0:
                reasons.append(f"per-second deaths follow errors (best correlation at {fl['best_lag_s']} s, r = {r_best})")
                votes_for += 1
            else:
                reasons.append(f"deaths and errors move in the same second (r = {r_best}): no direction")
            w_err, wo_err = fl["deaths_per_s_with_errors"], fl["deaths_per_s_without_errors"]
            if fl["deaths_without_errors"] and w_err:
                ratio = (wo_err or 0) / w_err
                txt = (f"{fl['deaths_without_errors']} deaths ({fl['deaths_without_errors_share']:.0%}) had no dependency error within {tol:g} s; "
                       f"{wo_err or 0} deaths/s in seconds without errors vs {w_err} with (ratio {ratio:.2f})")
                reasons.append(txt)
                if ratio >= 0.5:
                    votes_against += 1
                else:
                    votes_for += 1
            n_dead, by_sig, by_exit = fl["deaths"], fl["deaths_by_signal"], fl["deaths_by_error_exit"]
            if n_dead and by_sig >= 0.9 * n_dead:
                reasons.append(f"{by_sig} of {n_dead} workers were killed by a signal (killed from outside, e.g. the cgroup OOM killer), "
                               f"not exited by an error handler")
                votes_against += 1
            elif n_dead and by_exit >= n_dead / 2:
                reasons.append(f"{by_exit} of {n_dead} workers exited by themselves with an error code, as an error handler would")
                votes_for += 1
            if fl["control_pods"]:
                if fl["control_deaths"] == 0:
                    reasons.append(f"{fl['control_pods']} control pod(s) calling the same dependency lost no workers")
                    votes_against += 1
                else:
                    reasons.append(f"control pods lost {fl['control_deaths']} workers too")
                    votes_for += 1
            verdict = ("rejected" if votes_against >= 3 and votes_for <= 1
                       else "supported" if votes_for >= 3 and votes_against <= 1 else "inconclusive")
            reasons.append(f"{votes_against} test(s) against, {votes_for} for")
            hypotheses.append({
                "rule": "feedback_loop",
                "statement": "Dependency errors kill workers, and the respawned workers' calls cause more dependency errors (a positive feedback loop).",
                "verdict": verdict, "reasons": reasons,
                "metrics": {k: (iso(v) if isinstance(v, dt.datetime) else v) for k, v in fl.items()},
                "sql": self.runner.sql_ref("feedback_loop"),
            })

        # ---- near misses
        trig_values = sorted({f["metrics"]["cpu_count"] for f in triggers.values()})
        for cpu in trig_values:
            rows = self.runner.run("near_misses", {**self.base, "cpu_count": cpu, "after_s": o.near_miss_after_s,
                                                   "service": o.service}, key=f"near_misses:{cpu}")
            for r in rows:
                ended = (f"ended when the service started on {r['next_host']} ({r['next_cpu_count']} cores), {r['next_pod']}"
                         if r["next_pod"] else "no replacement start found within an hour")
                findings.append({
                    "rule": "near_miss", "severity": "warning", "confidence": 0.8 if r["deaths"] else 0.5,
                    "confidence_reasons": [f"same trigger value ({cpu} cores) on {r['host']}",
                                           f"{r['deaths']} worker deaths in the next {o.near_miss_after_s} s" if r["deaths"] else "no worker deaths logged after it"],
                    "title": f"Near miss {iso(r['ts'])}: {r['pod']} saw {cpu} cores; {r['deaths']} worker deaths; {ended}",
                    "entity": {"service": o.service or "", "pod": r["pod"], "host": r["host"]},
                    "start": r["ts"], "end": r["last_death"] or r["ts"],
                    "metrics": {"cpu_count": cpu, "deaths": r["deaths"], "worker_starts": r["starts"],
                                "peak_deaths_per_s": r["peak_deaths_per_s"], "spiral_s": r["spiral_s"],
                                "next_pod": r["next_pod"], "next_host": r["next_host"], "next_cpu_count": r["next_cpu_count"],
                                "next_start": iso(r["next_ts"])},
                    "evidence": [self.ev(r["source_id"], r["line_no"], r["message"])],
                    "sql": self.runner.sql_ref(f"near_misses:{cpu}"),
                })

        # ---- event-loop blocks (a request holding the loop; every route times out behind it)
        blocks: dict[str, dict] = {}
        for r in self.runner.run("event_loop_blocks", {**self.base, "min_lag_ms": o.block_lag_ms}):
            # a block is an incident when requests timed out behind it; lag alone is worth knowing;
            # on a pod with a host-shape trigger it is a symptom (its workers starve for CPU)
            sev = "incident" if r["timeouts"] else "info"
            if r["pod"] in triggers and sev == "incident":
                sev = "warning"
            why = [f"{r['blocks']} event-loop lag line(s) of at least {o.block_lag_ms:g} ms (max {r['max_lag_ms']:g} ms)"]
            conf = 0.6
            if r["top_route"]:
                why.append(f"in {r['blocks_with_route']} of {r['blocks']} blocks a {r['top_route']} request completed as the block "
                           f"ended, after a median {r['route_median_ms']:g} ms: it held the loop")
                conf += 0.2 * r["blocks_with_route"] / r["blocks"]
            if r["timeouts"]:
                why.append(f"{r['timeouts']} of {r['timeouts_total']} timeouts in the window fell inside a block "
                           f"(routes: {r['timeout_routes']})")
                conf += 0.15
            f = {
                "rule": "event_loop_block", "severity": sev, "confidence": round(min(conf, 0.95), 2), "confidence_reasons": why,
                "title": f"Event loop of {r['pod']} blocked up to {r['max_lag_ms']:g} ms"
                         + (f" by {r['top_route']} requests" if r["top_route"] else ""),
                "entity": {"service": r["service"], "pod": r["pod"]},
                "start": r["first_block_end"], "end": r["last_block_end"],
                "metrics": {k: r[k] for k in ("blocks", "max_lag_ms", "blocked_s", "top_route", "blocks_with_route",
                                              "route_median_ms", "timeouts", "timeout_routes", "health_timeouts", "timeouts_total")},
                "evidence": [self.ev(r["lag_source_id"], r["lag_line_no"], r["lag_message"])]
                + ([self.ev(r["req_source_id"], r["req_line_no"], r["req_message"])] if r["req_source_id"] else []),
                "sql": self.runner.sql_ref("event_loop_blocks"),
            }
            blocks[r["pod"]] = f
            findings.append(f)
            if r["timeouts"] and "," in (r["timeout_routes"] or ""):
                h_why = [f"{r['timeouts']} of {r['timeouts_total']} timeouts came while the event loop of {r['pod']} was blocked"]
                if r["health_timeouts"]:
                    h_why.append(f"{r['health_timeouts']} of them were health checks, which touch no database or other dependency")
                h_why.append(f"the request that held the loop ({r['top_route'] or 'unknown'}) is CPU work in the process itself")
                hypotheses.append({
                    "rule": "slow_dependency",
                    "statement": "A slow shared dependency (the database, say) made every route time out.",
                    "verdict": "rejected" if (r["health_timeouts"] and r["timeouts"] >= 0.8 * r["timeouts_total"]) else "inconclusive",
                    "reasons": h_why,
                    "metrics": {k: r[k] for k in ("timeouts", "timeouts_total", "health_timeouts", "timeout_routes")},
                    "sql": self.runner.sql_ref("event_loop_blocks"),
                })
        # ---- resource exhaustion (backpressure: fds and memory run out)
        exhaustion: dict[str, dict] = {}
        for r in self.runner.run("resource_exhaustion", self.base):
            why, parts_t = [], []
            if r["emfile"]:
                why.append(f"{r['emfile']} EMFILE ('too many open files') errors from {iso(r['first_emfile'])}, up to {r['peak_emfile_per_s']}/s")
                parts_t.append(f"{r['emfile']} EMFILE errors")
            if r["heap_oom"]:
                why.append(f"{r['heap_oom']} heap out-of-memory abort(s)")
                parts_t.append("heap out of memory")
            if r["oom_killed"]:
                why.append(f"{r['oom_killed']} OOM kill(s)")
                parts_t.append("OOM kills")
            if r["mem_growth_mb_per_min"] is not None and r["mem_growth_mb_per_min"] > 0:
                why.append(f"reported memory grew {r['mem_first_mb']:g} -> {r['mem_last_mb']:g} MB ({r['mem_growth_mb_per_min']:g} MB/min)")
            sev = "incident" if (r["emfile"] >= 100 or r["heap_oom"] or r["oom_killed"]) else "warning"
            f = {
                "rule": "resource_exhaustion", "severity": sev,
                "confidence": round(min(0.6 + 0.1 * len(why), 0.95), 2), "confidence_reasons": why,
                "title": f"{r['pod']} ran out of resources: " + ", ".join(parts_t),
                "entity": {"service": r["service"], "pod": r["pod"]},
                "start": r["first_emfile"] or r["first_memory"], "end": r["last_memory"] or r["first_emfile"],
                "metrics": {k: (iso(v) if isinstance(v, dt.datetime) else v) for k, v in r.items()
                            if not k.startswith("example_") and k not in ("pod", "service")},
                "evidence": [self.ev(r["example_source_id"], r["example_line_no"], r["example_message"])],
                "sql": self.runner.sql_ref("resource_exhaustion"),
            }
            exhaustion[r["pod"]] = f
            findings.append(f)

        if blocks:
            pods = sorted(blocks)
            for r in self.runner.run("deploy_markers", {"until": win["end"], "pods": ",".join(pods),
                                                        "first_deaths": ",".join(iso(blocks[p]["start"]) for p in pods),
                                                        "lookback_s": o.deploy_lookback_s}, key="deploy_markers:blocks"):
                gap = r["seconds_before_first_death"]
                d = {
                    "rule": "deploy_before_deaths", "severity": "warning", "confidence": 0.8 if gap <= 600 else 0.6,
                    "confidence_reasons": [f"logged {gap:g} s before the first event-loop block in {r['pod']}",
                                           "the newest deploy or config change of the service before it"],
                    "title": f"Deploy logged {gap:g} s before the first event-loop block in {r['pod']}",
                    "entity": {"service": blocks[r["pod"]]["entity"].get("service"), "pod": r["pod"]},
                    "start": r["deploy_ts"], "end": r["deploy_ts"],
                    "metrics": {"seconds_before_first_death": gap, "lookback_s": o.deploy_lookback_s},
                    "evidence": [self.ev(r["source_id"], r["line_no"], r["message"])],
                    "sql": self.runner.sql_ref("deploy_markers:blocks"),
                }
                deploys.setdefault(r["pod"], d)
                findings.append(d)

        # ---- ids, order, chain
        for f in findings:
            ent = f["entity"]
            f["id"] = finding_id(f["rule"], ent.get("service"), ent.get("pod"), f["start"])
            for k in ("service", "namespace", "pod", "container", "host", "pid"):
                ent.setdefault(k, None)
        for pod, t in triggers.items():
            if pod in spirals:
                s = spirals[pod]
                gap = (s["start"] - t["start"]).total_seconds() if s["start"] and t["start"] else None
                chain.append({"cause": t["id"], "effect": s["id"],
                              "basis": f"same pod {pod}: {t['metrics']['cpu_count']} workers forked for {t['metrics']['cpu_count']} cores seen, first death {gap:.1f} s after the CPU-count line"})
        for s in spirals.values():
            if amp_f and amp_f["entity"]["pod"] == s["entity"]["pod"]:
                chain.append({"cause": s["id"], "effect": amp_f["id"],
                              "basis": f"same pod: each new worker fetches at startup (calls vs worker starts r = {amp_f['metrics']['corr_calls_worker_starts']})"})
            if pe_f and (s["entity"]["pod"] in pe_f["metrics"]["caller_pods"]):
                chain.append({"cause": s["id"], "effect": pe_f["id"],
                              "basis": f"{pe_f['metrics']['death_aligned']} of {pe_f['metrics']['server_errors']} server errors within {o.tolerance_s:g} s of a death in this pod (median offset {pe_f['metrics']['median_death_offset_s']} s)"})
        for pod, pf in precursors.items():
            d = deploys.get(pod)
            if d:
                chain.append({"cause": d["id"], "effect": pf["id"],
                              "basis": f"the deploy came {d['metrics']['seconds_before_first_death']:g} s before the first death; "
                                       f"the error that precedes the deaths started after it"})
            chain.append({"cause": pf["id"], "effect": spirals[pod]["id"],
                          "basis": f"{pf['metrics']['exits_preceded']} of {pf['metrics']['exits']} exits within "
                                   f"{o.precursor_s:g} s after this error (median {pf['metrics']['median_gap_s']} s)"})
        for pod, b in blocks.items():
            if pod in triggers:
                # a symptom of the mechanism: the spiral's workers share the pod's CPU
                chain.append({"cause": spirals[pod]["id"] if pod in spirals else triggers[pod]["id"], "effect": b["id"],
                              "basis": f"same pod {pod}: {triggers[pod]['metrics']['cpu_count']} workers share its CPU limit, "
                                       f"so each event loop waits for CPU (max lag {b['metrics']['max_lag_ms']:g} ms)"})
            d = deploys.get(pod)
            if d and d["start"] <= b["start"]:
                chain.append({"cause": d["id"], "effect": b["id"],
                              "basis": f"deploy {d['metrics']['seconds_before_first_death']:g} s before the first block; "
                                       f"the blocking route is {b['metrics']['top_route'] or 'unknown'}"})
        for pod, d in deploys.items():
            if pod not in precursors and pod not in triggers and pod in spirals:
                chain.append({"cause": d["id"], "effect": spirals[pod]["id"],
                              "basis": f"deploy {d['metrics']['seconds_before_first_death']:g} s before the first death (time only)"})
        findings.sort(key=lambda f: (SEVERITY_ORDER[f["severity"]], -f["confidence"], iso(f["start"]) or "", f["id"]))
        causes = {c["cause"] for c in chain}
        effects = {c["effect"] for c in chain}
        roots = [f for f in findings if f["rule"] == "host_shape_outlier" and f["id"] in causes]
        for rule in ("deploy_before_deaths", "exit_precursor", "event_loop_block"):
            roots = roots or [f for f in findings if f["rule"] == rule and f["id"] in causes and f["id"] not in effects]
        if not roots:
            roots = [f for f in findings if f["rule"] in ("worker_death_spiral", "event_loop_block", "resource_exhaustion")
                     and f["severity"] != "info"]
        root = roots[0]["id"] if roots else None

        recs = self.recommendations(findings, hypotheses)
        timeline = self.timeline(win)
        surge = self.surge(win)
        incident = any(f["severity"] == "incident" for f in findings)
        report = {
            "schema_version": SCHEMA_VERSION,
            "pmortem_version": __version__,
            "command": self.redact(o.command),
            "incident": incident,
            "window": {"start": iso(win["start"]), "end": iso(win["end"]), "basis": win["basis"]},
            "service": o.service,
            "root_cause": root,
            "summary": self.summary(findings, hypotheses, root, incident, surge),
            "findings": [self._finding_out(f) for f in findings],
            "chain": chain,
            "hypotheses": hypotheses,
            "recommendations": recs,
            "timeline": timeline,
            "template_surge": surge,
            "coverage": [{k: (iso(v) if isinstance(v, dt.datetime) else v) for k, v in c.items()} | {"path": self.redact(c["path"])} for c in coverage],
            "sources": [{"source_id": sid, "path": self.redact(p), "fingerprint": fp, "format": fmt, "lines": n, "status": st}
                        for sid, p, fp, fmt, n, st in self.con.execute(
                            "SELECT source_id, path, fingerprint, format, lines, status FROM sources ORDER BY source_id").fetchall()],
            "queries": {k: self.runner.sql_ref(k) for k in self.runner.ran},
            "redaction": [{"name": n, "regex": rx.pattern, "replacement": rp} for n, rx, rp in self.redact.rules],
        }
        return report

    def peer_services(self) -> dict[str, str]:
        """Address -> service, learned from spans that name both (`http.url` host and `peer.service`),
        so a call logged against 127.0.0.1:18080 can be told as a call to translation-service;
        `[peers]` in the config file adds to it and wins."""
        if not hasattr(self, "_peer_services"):
            rows = self.con.execute(
                r"""
                SELECT regexp_extract(coalesce(attrs->>'http.url', attrs->>'url.full', ''), '^\w+://([^/:?]+)', 1) AS url_host,
                       any_value(peer) AS service
                FROM events WHERE kind = 'span' AND peer IS NOT NULL
                GROUP BY 1 HAVING url_host <> '' AND count(DISTINCT peer) = 1
                """
            ).fetchall()
            self._peer_services = {h: svc for h, svc in rows if h != svc}
            self._peer_services.update({str(k): str(v) for k, v in (self.opts.peers or {}).items()})
        return self._peer_services

    def peer_name(self, peer: str | None) -> str:
        svc = self.peer_services().get(peer or "")
        return f"{svc} ({peer})" if svc else str(peer)

    @staticmethod
    def _sigkills(spiral: dict) -> int:
        """Exits by a signal, from the spiral's exit-code histogram ('SIGKILL:120, 1:3')."""
        n = 0
        for part in (spiral["metrics"].get("exit_codes") or "").split(","):
            code, _, cnt = part.strip().rpartition(":")
            if code.startswith("SIG") and cnt.isdigit():
                n += int(cnt)
        return n

    def _finding_out(self, f: dict) -> dict:
        out = {k: f[k] for k in ("id", "rule", "severity", "confidence", "title", "entity")}
        out["start"], out["end"] = iso(f["start"]), iso(f["end"])
        for k in ("metrics", "confidence_reasons", "evidence", "sql"):
            out[k] = f[k]
        out["title"] = self.redact(out["title"])
        return out

    def timeline(self, win) -> dict:
        fb, lb = win.get("first_bad"), win.get("last_bad")
        start = (fb - dt.timedelta(seconds=10)) if fb else win["start"]
        end = (lb + dt.timedelta(seconds=10)) if lb else win["end"]
        span = max((end - start).total_seconds(), 1)
        bucket = max(1, math.ceil(span / 60))
        rows = self.runner.run("timeline", {"since": start, "until": end, "bucket_s": bucket,
                                            "server_class": self.opts.server_class,
                                            "client_classes": self.opts.client_classes})
        return {"bucket_s": bucket, "start": iso(start), "end": iso(end),
                "rows": [{**r, "bucket": iso(r["bucket"])} for r in rows]}

    def surge(self, win) -> dict:
        """Templates that surged or appeared in the window (re-read through line_index)."""
        try:
            s = template_surge(self.con, win["start"], win["end"])
        except Exception as exc:  # noqa: BLE001 - a damaged source must not sink the whole report
            return {"window": {"start": iso(win["start"]), "end": iso(win["end"])}, "baseline": {"start": None, "end": None},
                    "bytes_read": 0, "window_lines": 0, "baseline_lines": 0, "duplicate_lines": 0, "skipped": [], "rows": [], "error": str(exc)[:200]}
        for k in ("window", "baseline"):
            s[k] = {kk: iso(v) for kk, v in s[k].items()}
        for r in s["rows"]:
            r["first_seen"] = iso(r["first_seen"])
            r["template"] = self.redact(r["template"])
            r["example"] = {**r["example"], "source": self.redact(r["example"]["source"]),
                            "text": self.redact(_first_lines(r["example"]["text"]))}
        return s

    def summary(self, findings, hypotheses, root, incident, surge=None) -> str:
        by: dict[str, dict] = {}
        for f in findings:  # sorted by severity: the first of a rule is its most severe
            if f["severity"] != "info":
                by.setdefault(f["rule"], f)
        if not incident:
            deaths = sum(f["metrics"].get("deaths", 0) for f in findings if f["rule"] == "worker_death_spiral")
            text = (f"No incident found in the window: {deaths} worker deaths, no host-shape outlier "
                    f"and no incident-level finding ({len(findings)} finding(s) at warning/info level).")
            rows = (surge or {}).get("rows") or []
            if rows and (surge or {}).get("baseline_lines"):
                top = rows[0]
                text += (f" Most surging log template: \"{top['template'][:120]}\" ({top['window_count']} in the window vs "
                         f"{top['baseline_count']} in the baseline; see 'Log templates that surged').")
            return text
        parts = []
        t = by.get("host_shape_outlier")
        s = by.get("worker_death_spiral")
        if t:
            parts.append(f"Pod {t['entity']['pod']} started on host {t['entity']['host']} and saw {t['metrics']['cpu_count']} CPU cores "
                         f"(its limit is {t['metrics']['cpu_limit']} CPU; {t['metrics']['observations_in_history']} of "
                         f"{t['metrics']['observations_total']} starts in the history saw that many).")
        if s:
            killed = self._sigkills(s)
            n = s["metrics"]["deaths"]
            how = (f"{n} workers were killed by a signal" if killed >= n / 2
                   else f"{n} workers exited (exit codes {s['metrics']['exit_codes']}) after a median life of {s['metrics']['median_lifetime_s']} s")
            lead = "It forked one worker per core into its memory limit; " if t else f"In {s['entity']['pod']}, "
            backoff = "with no backoff" if not s["metrics"].get("respawn_backs_off") else "with a growing delay"
            parts.append(f"{lead}{how} (peak {s['metrics']['peak_deaths_per_s']}/s) and were respawned after a median "
                         f"{s['metrics']['median_respawn_latency_s']} s {backoff}: a death spiral.")
        b = by.get("event_loop_block")
        if b and t and b["entity"]["pod"] == t["entity"]["pod"]:
            b = None  # the starving workers of the trigger pod: told by the trigger and the spiral
        if b:
            m = b["metrics"]
            txt = f"The event loop of {b['entity']['pod']} was blocked {m['blocks']} time(s), up to {m['max_lag_ms']:g} ms"
            if m["top_route"]:
                txt += f", each time by a {m['top_route']} request (median {m['route_median_ms']:g} ms of work on the loop)"
            if m["timeouts"]:
                where = [x for x in (m["timeout_routes"], f"{m['health_timeouts']} of them health checks" if m["health_timeouts"] else None) if x]
                txt += f"; {m['timeouts']} requests timed out behind it" + (f" ({', '.join(where)})" if where else "")
            parts.append(txt + ".")
        x = by.get("resource_exhaustion")
        if x:
            m = x["metrics"]
            backpressure = bool(m["emfile"]) and bool(m.get("mem_growth_mb_per_min") and m["mem_growth_mb_per_min"] > 0)
            txt = f"{x['entity']['pod']} ran out of resources" + (
                ", the pattern of work accepted faster than it is finished" if backpressure else "")
            bits = []
            if m["emfile"]:
                bits.append(f"{m['emfile']} 'too many open files' (EMFILE) errors from {m['first_emfile']}, up to {m['peak_emfile_per_s']}/s")
            if m["heap_oom"]:
                bits.append(f"{m['heap_oom']} heap out-of-memory abort(s)")
            if m["oom_killed"]:
                bits.append(f"{m['oom_killed']} OOM kill(s)")
            if m.get("mem_growth_mb_per_min"):
                bits.append(f"memory {m['mem_first_mb']:g} -> {m['mem_last_mb']:g} MB ({m['mem_growth_mb_per_min']:g} MB/min)")
            parts.append(txt + ": " + "; ".join(bits) + ".")
        d = by.get("deploy_before_deaths")
        pc = by.get("exit_precursor")
        if pc:
            parts.append(f"{pc['metrics']['exits_preceded']} of {pc['metrics']['exits']} exits came right after the error "
                         f"'{_first_lines(pc['metrics']['precursor'], 1, 120)}' (median {pc['metrics']['median_gap_s']} s before the exit): a crash loop.")
        if d:
            what = "event-loop block" if b and not s else "death"
            parts.append(f"A deploy was logged {d['metrics']['seconds_before_first_death']:g} s before the first {what}.")
        for h in hypotheses:
            if h["rule"] == "slow_dependency":
                parts.append(f"The slow-dependency theory is {h['verdict']}: {h['reasons'][0]}"
                             + (f"; {h['reasons'][1]}" if len(h["reasons"]) > 2 else "") + ".")
        a = by.get("request_amplification")
        if a:
            parts.append(f"Every new worker re-fetched from {self.peer_name(a['metrics']['peer'])}: {a['metrics']['incident_per_min']} calls/min vs "
                         f"{a['metrics']['normal_per_min']} on healthy pods ({a['metrics']['factor']}x).")
        p = by.get("paired_client_server_errors")
        if p:
            parts.append(f"The dependency logged {p['metrics']['server_errors']} '{self.opts.server_class}' errors, "
                         f"{p['metrics']['death_aligned']} of them within {p['metrics']['tolerance_s']:g} s of a worker death.")
        for h in hypotheses:
            if h["rule"] == "feedback_loop":
                m = h["metrics"]
                lead = m.get("deaths_lead_errors_s")
                tol = m.get("tolerance_s", self.opts.tolerance_s)
                if lead is None:
                    order = "no onset order could be measured"
                elif abs(lead) <= tol:
                    order = f"deaths and dependency errors began within {abs(lead):g} s of each other, inside the {tol:g} s tolerance"
                elif lead > 0:
                    order = f"deaths began {lead:g} s before the first dependency error"
                else:
                    order = f"dependency errors began {-lead:g} s before the first death"
                extra = ""
                if m.get("deaths_per_s_without_errors") is not None and m.get("deaths_per_s_with_errors") is not None:
                    extra += (f"; workers died at {m['deaths_per_s_without_errors']:g}/s in seconds without dependency errors "
                              f"vs {m['deaths_per_s_with_errors']:g}/s with them")
                if m.get("deaths_by_signal") is not None and m.get("deaths"):
                    if m["deaths_by_signal"] >= m["deaths"] / 2:
                        extra += f"; {m['deaths_by_signal']} of {m['deaths']} were killed by a signal, not exited by an error handler"
                    else:
                        extra += f"; {m.get('deaths_by_error_exit')} of {m['deaths']} exited by themselves with an error code"
                parts.append(f"The feedback-loop theory is {h['verdict']}: {order}{extra}; control pods died "
                             f"{m.get('control_deaths')} times.")
        nm = [f for f in findings if f["rule"] == "near_miss"]
        if nm:
            parts.append(f"It happened before: {len(nm)} near miss(es), first at {iso(nm[0]['start'])}.")
        return " ".join(parts)

    def recommendations(self, findings, hypotheses) -> list[dict]:
        ids = {r: [f["id"] for f in findings if f["rule"] == r] for r in
               ("host_shape_outlier", "worker_death_spiral", "request_amplification", "paired_client_server_errors", "near_miss", "cpu_count_above_limit")}
        recs = []
        if ids["host_shape_outlier"] or ids["cpu_count_above_limit"]:
            recs.append({"id": "size_workers_from_quota", "findings": ids["host_shape_outlier"] + ids["cpu_count_above_limit"],
                         "text": "Remove cluster mode (one process per pod, scale with replicas) or size the worker count from the "
                                 "container's CPU quota (cgroup cpu.max / os.availableParallelism() capped by the limit), never os.cpus()."})
        if ids["worker_death_spiral"]:
            recs.append({"id": "respawn_backoff", "findings": ids["worker_death_spiral"],
                         "text": "Respawn workers with exponential backoff and a circuit breaker (stop forking after N deaths in M seconds and fail the pod's readiness)."})
        if ids["request_amplification"]:
            recs.append({"id": "startup_fetch_cache", "findings": ids["request_amplification"],
                         "text": "Fetch startup data once per pod (in the primary or a shared cache), not once per worker."})
        if ids["worker_death_spiral"] or ids["paired_client_server_errors"]:
            recs.append({"id": "event_loop_lag", "findings": ids["worker_death_spiral"] + ids["paired_client_server_errors"],
                         "text": "Instrument event-loop lag and worker deaths per second as metrics with alerts, so the spiral is seen in minutes, not from the dependency's errors."})
        exh = [f["id"] for f in findings if f["rule"] == "resource_exhaustion"]
        if exh:
            recs.append({"id": "bound_work_in_flight", "findings": exh,
                         "text": "Bound the work in flight: a concurrency limit and a maximum queue length on downstream calls, "
                                 "shed load (429/503) when full, time out downstream calls, and alert on open file descriptors and heap use."})
        blk = [f["id"] for f in findings if f["rule"] == "event_loop_block"]
        if blk:
            recs.append({"id": "unblock_event_loop", "findings": blk,
                         "text": "Take the CPU-bound work off the event loop (precompile templates at build or start time, move heavy "
                                 "rendering to worker_threads), give the endpoint a time budget, and alert on event-loop lag."})
        pre = [f["id"] for f in findings if f["rule"] in ("exit_precursor", "deploy_before_deaths")]
        if pre:
            recs.append({"id": "validate_config_before_fork", "findings": pre,
                         "text": "Check configuration and dependencies once in the primary before forking (fail the deploy's readiness, "
                                 "not every worker), and roll back the change logged before the deaths."})
        if ids["near_miss"]:
            recs.append({"id": "alert_on_host_shape", "findings": ids["near_miss"],
                         "text": "Alert when a pod logs a CPU count far above its limit: this trigger was seen before and went unnoticed."})
        return recs


def build_report(con: duckdb.DuckDBPyConnection, opts: Options, redact: Redactor) -> dict:
    return Analysis(con, opts, redact).run()
