"""Run the detector SQL files in pmortem.queries with named parameters, and remember what ran."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass, field
from importlib.resources import files

import duckdb

from ..errors import UserError


def load_sql(name: str) -> str:
    return files("pmortem.queries").joinpath(f"{name}.sql").read_text(encoding="utf-8")


def _clean(v):
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def param_text(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, dt.datetime):
        return "'" + v.astimezone(dt.UTC).isoformat() + "'"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


@dataclass
class Runner:
    con: duckdb.DuckDBPyConnection
    ran: dict[str, dict] = field(default_factory=dict)

    def run(self, name: str, params: dict, key: str | None = None) -> list[dict]:
        sql = load_sql(name)
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        try:
            cur = self.con.execute(sql, used)
        except duckdb.Error as exc:
            raise UserError(f"detector {name}.sql failed: {str(exc).splitlines()[0]}") from None
        cols = [d[0] for d in cur.description]
        rows = [{c: _clean(v) for c, v in zip(cols, r, strict=True)} for r in cur.fetchall()]
        self.ran[key or name] = {"name": name, "file": f"queries/{name}.sql", "params": used, "text": sql}
        return rows

    def sql_ref(self, key: str) -> dict:
        r = self.ran[key]
        return {
            "file": r["file"],
            "params": {k: (v.astimezone(dt.UTC).isoformat() if isinstance(v, dt.datetime) else v) for k, v in r["params"].items()},
            "text": r["text"],
        }


def substituted(sql: str, params: dict) -> str:
    """The SQL with its parameters written in, for `pmortem sql` by hand."""
    lines = []
    for line in sql.splitlines():
        if not line.lstrip().startswith("--"):
            for k in sorted(params, key=len, reverse=True):
                line = line.replace(f"${k}", param_text(params[k]))
        lines.append(line)
    return "\n".join(lines)
