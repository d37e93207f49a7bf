"""Event classification as data: the catalogue maps message patterns to kinds and fields.

Rules live in `catalogue.toml` (shipped) and in the user's `pmortem.toml`
(`[[patterns]]`, run first). All matching is done by polars' Rust regex engine
(linear time), behind a literal prefilter.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import polars as pl

from .literals import literal_masks

TYPED_FIELDS = {
    "cpu_count": pl.Int32,
    "pid": pl.Int64,
    "exit_code": pl.Int32,
    "signal": pl.String,
    "status": pl.Int32,
    "duration_ms": pl.Float64,
    "route": pl.String,
    "peer": pl.String,
    "trace_id": pl.String,
    "span_id": pl.String,
    "error_class": pl.String,
    "level": pl.String,
}
_GROUP_RE = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


class CatalogueError(ValueError):
    """A rule in the catalogue or the user's config is unusable."""


@dataclass
class Rule:
    name: str
    kind: str
    regex: str
    literals: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    set: dict[str, object] = field(default_factory=dict)
    origin: str = "builtin"

    @property
    def groups(self) -> list[str]:
        return _GROUP_RE.findall(self.regex)


# literals the event builder needs on top of the catalogue's (pino-http request lines become
# http_request events): both prefilters, the polars reference's and the native literal search, add them
BUILDER_LITERALS = ['"responseTime"', '"statusCode"']


def _check_regex(rx: str, where: str) -> None:
    try:
        pl.Series([""]).str.contains(rx)
    except Exception as exc:  # polars raises ComputeError for a bad pattern
        raise CatalogueError(f"{where}: invalid regex {rx!r} ({str(exc).splitlines()[0]})") from None


def _check_rules(rules: list[Rule]) -> None:
    """Every regex compiles: all in one polars query (one per regex costs 30 ms at start-up);
    when that fails, one by one to name the rule."""
    number: dict[str, int] = {}
    pairs = []
    for r in rules:
        number[r.origin] = number.get(r.origin, 0) + 1
        pairs += [(rx, f"{r.origin} rule #{number[r.origin]} ({r.name})") for rx in (r.regex, *r.also)]
    try:
        pl.DataFrame({"s": [""]}).select(pl.col("s").str.contains(rx).alias(str(i)) for i, (rx, _) in enumerate(pairs))
    except Exception as exc:  # noqa: BLE001 - polars' error for the whole query; name the rule
        for rx, where in pairs:
            _check_regex(rx, where)
        raise CatalogueError(f"the catalogue's regexes do not compile together ({str(exc).splitlines()[0]})") from None


def _rule_from(d: dict, origin: str, i: int) -> Rule:
    where = f"{origin} rule #{i + 1} ({d.get('name', '?')})"
    for key in ("kind", "regex"):
        if not isinstance(d.get(key), str) or not d[key]:
            raise CatalogueError(f"{where}: '{key}' is required and must be a string")
    lits = d.get("literals", [])
    also = d.get("also", [])
    if not isinstance(lits, list) or not all(isinstance(x, str) and x for x in lits):
        raise CatalogueError(f"{where}: 'literals' must be a list of non-empty strings")
    if not isinstance(also, list) or not all(isinstance(x, str) and x for x in also):
        raise CatalogueError(f"{where}: 'also' must be a list of regexes")
    return Rule(
        name=d.get("name", f"{origin}.{i + 1}"),
        kind=d["kind"],
        regex=d["regex"],
        literals=lits,
        also=also,
        set=dict(d.get("set", {})),
        origin=origin,
    )


@dataclass
class Catalogue:
    rules: list[Rule]
    # requests (parsers/requests.py): at or over this latency a request stays an event;
    # request_events "all" keeps every request as an event (the rollup is filled either way)
    slow_request_ms: float = 400.0
    request_events: str = "notable"

    @property
    def literals(self) -> list[str] | None:
        """All prefilter literals, or None when some rule has none (it must see every line)."""
        out: list[str] = []
        for r in self.rules:
            if not r.literals:
                return None
            out.extend(r.literals)
        return sorted(set(out))


def load_catalogue(config: dict | None = None, *, config_path: str = "pmortem.toml") -> Catalogue:
    builtin = tomllib.loads(resources.files("pmortem.parsers").joinpath("catalogue.toml").read_text())
    rules = [_rule_from(d, "catalogue.toml", i) for i, d in enumerate(builtin.get("rule", []))]
    user = []
    if config:
        pats = config.get("patterns", [])
        if not isinstance(pats, list):
            raise CatalogueError(f"{config_path}: [[patterns]] must be an array of tables")
        user = [_rule_from(d, config_path, i) for i, d in enumerate(pats)]
    # only the user's patterns are compiled here: the built-in rules ship with pmortem and a
    # test compiles them (all ~40 regexes in polars took 16 ms of every start)
    if user:
        _check_rules(user)
    slow, keep = _request_settings((config or {}).get("requests", {}), config_path)
    return Catalogue(user + rules, slow_request_ms=slow, request_events=keep)


def _request_settings(sec: object, where: str) -> tuple[float, str]:
    """`[requests]` in pmortem.toml: `slow_ms` (default 400) and `events` ("notable" or "all")."""
    from .requests import SLOW_REQUEST_MS

    if not isinstance(sec, dict):
        raise CatalogueError(f"{where}: [requests] must be a table")
    slow = sec.get("slow_ms", SLOW_REQUEST_MS)
    if isinstance(slow, bool) or not isinstance(slow, int | float) or slow < 0:
        raise CatalogueError(f"{where}: [requests] slow_ms must be a number of milliseconds >= 0")
    keep = sec.get("events", "notable")
    if keep not in ("notable", "all"):
        raise CatalogueError(f"{where}: [requests] events must be \"notable\" or \"all\"")
    return float(slow), keep


def load_config(path: str | None) -> tuple[dict, str | None]:
    """Read pmortem.toml (explicit path, or ./pmortem.toml when present)."""
    p = Path(path) if path else Path("pmortem.toml")
    if not p.exists():
        if path:
            raise CatalogueError(f"config file {path} does not exist")
        return {}, None
    try:
        return tomllib.loads(p.read_text()), str(p)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{p}: not valid TOML ({exc})") from None


# Linux signal numbers (x86, arm, most others): `exited on signal 9` is a SIGKILL. A number not
# listed stays unnamed (no signal) rather than a guess.
SIGNAL_NAMES = {"1": "SIGHUP", "2": "SIGINT", "3": "SIGQUIT", "4": "SIGILL", "5": "SIGTRAP", "6": "SIGABRT",
                "7": "SIGBUS", "8": "SIGFPE", "9": "SIGKILL", "10": "SIGUSR1", "11": "SIGSEGV", "12": "SIGUSR2",
                "13": "SIGPIPE", "14": "SIGALRM", "15": "SIGTERM", "24": "SIGXCPU", "25": "SIGXFSZ", "31": "SIGSYS"}


def _convert(name: str, col: pl.Expr) -> tuple[str, pl.Expr]:
    if name == "signal_no":
        return "signal", col.replace_strict(SIGNAL_NAMES, default=None, return_dtype=pl.String)
    if name == "duration_s":
        return "duration_ms", (col.cast(pl.Float64, strict=False) * 1000.0).round(6)
    if name == "duration_us":
        return "duration_ms", (col.cast(pl.Float64, strict=False) / 1000.0).round(6)
    if name == "pid2":
        return "pid", col.cast(pl.Int64, strict=False)
    if name in ("exit_code", "signal"):
        col = pl.when(col.str.to_lowercase() == "null").then(None).otherwise(col)
    if name == "signal":
        col = col.str.to_uppercase()
    if name in TYPED_FIELDS:
        return name, col.cast(TYPED_FIELDS[name], strict=False)
    return name, col


def _literal_bits(cat: Catalogue) -> dict[str, int] | None:
    """Lower-cased literal -> bit mask of the rules (by position) that list it.

    None past 62 rules, or when a literal is not ASCII (its case is matched exactly, which a
    lower-cased key would blur): the caller then tests each rule's literals on their own."""
    if len(cat.rules) > 62 or any(not lit.isascii() for r in cat.rules for lit in r.literals):
        return None
    bits: dict[str, int] = {}
    for i, rule in enumerate(cat.rules):
        for lit in rule.literals:
            bits[lit.lower()] = bits.get(lit.lower(), 0) | (1 << i)
    return bits or None


def classify_frame(df: pl.DataFrame, cat: Catalogue, text_col: str = "message") -> pl.DataFrame:
    """Add `kind`, `rule`, typed fields and `rule_attrs` (JSON text) to matching rows.

    Rows no rule matches keep kind null. The frame must carry a unique `_i` index.
    """
    text = pl.col(text_col).fill_null("")
    if df.height == 0 or not cat.rules:
        return df.with_columns(pl.lit(None, pl.String).alias("kind"), pl.lit(None, pl.String).alias("rule"))
    # Which rule claims each row: the first in order whose literals and regex match. All
    # rules' masks in one query, then all fields of all rules that claimed rows in a second
    # one (each rule's regexes see only its own rows; the others read as ""). Two queries
    # per chunk instead of two per rule: the per-query cost dominated on small batches.
    masks = []
    bits = _literal_bits(cat)
    if bits is not None:
        # every literal of every rule in one pass; a bit per rule says whose literals a row
        # holds, and a rule's regex then reads only those rows (others as ""). The C literal
        # search (parsers/literals.py) when built, else polars' Aho-Corasick
        lm = literal_masks(df.get_column(text_col).fill_null(""), bits)
        if lm is not None:
            found = pl.DataFrame({"_litmask": lm})
            df = df.with_columns(lm.alias("_litmask"))
        else:
            found = (
                df.select("_i", text.str.extract_many(list(bits), ascii_case_insensitive=True, overlapping=True).alias("_m"))
                .explode("_m")
                .with_columns(pl.col("_m").str.to_lowercase().replace_strict(bits, default=0, return_dtype=pl.Int64).alias("_b"))
                .group_by("_i")
                .agg(pl.col("_b").fill_null(0).bitwise_or().alias("_litmask"))
            )
            df = df.join(found, on="_i", how="left", maintain_order="left")
        # rules none of whose literals occur in this batch match no row: their regexes are not
        # run at all. Besides the work, this keeps the regexes a build uses under the 32 that
        # polars caches compiled per thread; past that, every build compiled most of them
        # again (about 12 ms per build: bench/README.md)
        present = 0
        for m in found.get_column("_litmask").unique().to_list():
            present |= m or 0
        for i, rule in enumerate(cat.rules):
            if rule.literals:
                if not present >> i & 1:
                    masks.append(pl.lit(False))
                    continue
                has = (pl.col("_litmask") & (1 << i)) != 0
                masks.append(has & pl.when(has).then(text).otherwise(pl.lit("")).str.contains(rule.regex))
            else:
                masks.append(text.str.contains(rule.regex))
    else:
        for rule in cat.rules:
            m = text.str.contains(rule.regex)
            if rule.literals:
                m = text.str.contains_any(rule.literals, ascii_case_insensitive=True) & m
            masks.append(m)
    first = pl.coalesce([pl.when(m).then(pl.lit(i, pl.Int32)) for i, m in enumerate(masks)])
    df = df.with_columns(first.alias("_rule_i"))
    if "_litmask" in df.columns:
        df = df.drop("_litmask")
    claimed = sorted(df.get_column("_rule_i").drop_nulls().unique().to_list())
    if not claimed:
        return df.drop("_rule_i").with_columns(pl.lit(None, pl.String).alias("kind"), pl.lit(None, pl.String).alias("rule"))
    typed: dict[str, list[pl.Expr]] = {}
    attrs: list[pl.Expr] = []
    for i in claimed:
        rule = cat.rules[i]
        mine = pl.col("_rule_i") == i
        own_text = pl.when(mine).then(text).otherwise(pl.lit(""))
        cols: dict[str, pl.Expr] = {}
        extra: dict[str, pl.Expr] = {}
        for rx in [rule.regex, *rule.also]:
            names = _GROUP_RE.findall(rx)
            if not names:
                continue
            g = own_text.str.extract_groups(rx)
            for n in names:
                target, expr = _convert(n, g.struct.field(n))
                bucket = cols if target in TYPED_FIELDS else extra
                bucket[target] = pl.coalesce(bucket[target], expr) if target in bucket else expr
        for k, v in rule.set.items():
            bucket = cols if k in TYPED_FIELDS else extra
            if k not in bucket:
                bucket[k] = pl.lit(v).cast(TYPED_FIELDS.get(k, pl.String))
        for k, e in cols.items():
            typed.setdefault(k, []).append(pl.when(mine).then(e))
        if extra:
            attrs.append(pl.when(mine).then(pl.struct([e.alias(k) for k, e in extra.items()]).struct.json_encode()))
    exprs = [pl.coalesce(v).alias("_f_" + k) for k, v in typed.items()]
    if attrs:
        exprs.append(pl.coalesce(attrs).alias("rule_attrs"))
    kinds = {i: cat.rules[i].kind for i in claimed}
    names = {i: cat.rules[i].name for i in claimed}
    return df.with_columns(
        *exprs,
        pl.col("_rule_i").replace_strict(kinds, default=None, return_dtype=pl.String).alias("kind"),
        pl.col("_rule_i").replace_strict(names, default=None, return_dtype=pl.String).alias("rule"),
    ).drop("_rule_i")
