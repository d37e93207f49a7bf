"""What a rule sees: the database, the options, the window, quoting helpers and the findings so far."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from .findings import Finding, Hypothesis, first_lines
from .redact import Redactor
from .sqlrun import Runner

if TYPE_CHECKING:
    from .report import Options


class Context:
    def __init__(self, con: duckdb.DuckDBPyConnection, opts: Options, redact: Redactor, runner: Runner, window: dict):
        self.con = con
        self.opts = opts
        self.redact = redact
        self.runner = runner
        self.window = window  # start, end, basis (+ first_bad, last_bad when detected)
        self.base = {"since": window["start"], "until": window["end"]}
        self.findings: list[Finding] = []  # in the order rules made them; sorted by severity once all ran
        self.hypotheses: list[Hypothesis] = []
        self.paths = {sid: p for sid, p in con.execute("SELECT source_id, path FROM sources").fetchall()}
        self._peer_services: dict[str, str] | None = None
        self._upstreams: bool | None = None

    # ---- queries and quotes
    def run(self, name: str, params: dict | None = None, key: str | None = None) -> list[dict]:
        """Rows of queries/<name>.sql over the window; `key` names a second run of the same file."""
        return self.runner.run(name, {**self.base, **(params or {})}, key=key)

    def sql_ref(self, key: str) -> dict:
        return self.runner.sql_ref(key)

    @property
    def upstreams(self) -> bool:
        """Whether any response names an upstream address (queries/upstreams.sql), asked once: the
        queries that resolve such addresses to pods take it as $upstreams and skip the look when false."""
        if self._upstreams is None:
            self._upstreams = bool(self.run("upstreams")[0]["upstreams"])
        return self._upstreams

    @property
    def error_classes(self) -> dict:
        return {"server_class": self.opts.server_class, "client_classes": self.opts.client_classes}

    def ev(self, source_id: int, line_no: int, text: str | None) -> dict:
        return {"source": self.redact(self.paths.get(source_id, f"source {source_id}")), "line": line_no,
                "text": self.redact(first_lines(text))}

    def evidence(self, kind: str, pod: str | None = None, error_class: str | None = None, limit: int | None = None,
                 key: str | None = None) -> list[dict]:
        rows = self.run("evidence", {"kind": kind, "pod": pod, "error_class": error_class,
                                     "limit": limit or self.opts.evidence_lines}, key=key)
        return [self.ev(r["source_id"], r["line_no"], r["message"]) for r in rows]

    def peer_services(self) -> dict[str, str]:
        """Address -> service, learned from spans that name both (`http.url` host and `peer.service`),
        so a call logged against 127.0.0.1:18080 can be told as a call to translation-service;
        `[peers]` in the config file adds to it and wins."""
        if self._peer_services is None:
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

    # ---- findings of other rules, by rule id
    def of(self, rule: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule]

    def per_pod(self, rule: str, last: bool = False) -> dict[str, Finding]:
        """A rule's findings by pod: the first of each pod, or the last (in the first one's place)."""
        out: dict[str, Finding] = {}
        for f in self.of(rule):
            if last or f.pod not in out:
                out[f.pod] = f
        return out

    def top(self, rule: str) -> Finding | None:
        """The rule's first finding above info: its most severe once the findings are sorted."""
        return next((f for f in self.findings if f.rule == rule and f.severity != "info"), None)

    def tested(self, rule: str) -> list[Hypothesis]:
        return [h for h in self.hypotheses if h.rule == rule]
