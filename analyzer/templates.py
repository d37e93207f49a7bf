"""Log templates: which lines are the same message with different values.

One generic configuration for every log, all in polars (Rust regex, no per-line Python):

1. Mask variable parts: times, numbers (with their unit), hex, IPs, MACs, UUIDs, host names,
   URLs, paths; a token holding a masked part becomes `<*>` as a whole, keeping a `key=` or
   `key:` in front of it. Each distinct text is masked once.
2. Split on whitespace and group lines by token count (Brain's first step).
3. For each line, the "longest common pattern": every (position, token) pair is counted over
   lines of the same length; a line's tokens whose count is the one most of its tokens share
   form its pattern (Brain, Yu et al. 2023). Lines with the same pattern start one group.
4. In each group, a position holding at most MAX_SPLIT distinct tokens splits the group (or is
   constant); a position with more, or where any line holds a masked value, is variable (`<*>`).

Accuracy on the 16 Loghub 2k samples: bench/loghub_templates.py, bench/README.md.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..parsers.payloads import CONTINUATION_RE

WILD = "<*>"
# a position splits its group when it holds at most this many distinct tokens, each on at least
# MIN_SPLIT_LINES lines, and no masked value; otherwise it is variable. Chosen on the Loghub
# samples (bench/README.md): an in-sample choice, stated there
MAX_SPLIT = 5
MIN_SPLIT_LINES = 1

# Each replaces a variable part with <*> (or deletes it); earlier ones win where two match at
# one position. Linear-time (Rust regex).
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_UNIT = r"(?:[num]?s|sec|secs|seconds?|mins?|minutes?|hours?|days?|[KMGT]?i?B|%)"
MASKS: list[tuple[str, str]] = [
    # timestamps: ISO 8601, syslog/ctime style
    (r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?", WILD),
    (rf"\b(?:{_DAY}\s+)?{_MON}\s+\d{{1,2}}\s+\d\d:\d\d(?::\d\d)?(?:\s+\d{{4}})?\b", WILD),
    # a quantity in parentheses is an annotation of the value before it: `1190 bytes (1.16 KB)`
    (rf"\s+\(\s*[<>~]?[-+]?\d+(?:[.,]\d+)?\s*{_UNIT}?\s*\)", ""),
    # a quantity with its unit is one value: `12 ms`, `<1 sec`, `3.5 GB`
    (rf"[<>~]?[-+]?\b\d+(?:[.,:]\d+)*\s?{_UNIT}\b", WILD),
    # host names: dotted, ending in a common top-level domain or a country code after two dots
    (
        r"\b(?:[A-Za-z0-9-]+\.)+(?:com|net|org|edu|gov|info|io|local|internal)\b|\b(?:[A-Za-z0-9-]+\.){2,}[a-z]{2}\b",
        WILD,
    ),
    # URLs and absolute or relative paths with at least two segments
    (r"\b[a-z][a-z0-9+.-]*://\S+", WILD),
    (r"(?:[A-Za-z]:)?(?:[\\/][\w.$@~+-]+){2,}[\\/]?", WILD),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", WILD),
    # IPv4 (with port), IPv6-ish and MAC addresses
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", WILD),
    (r"\b(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}\b", WILD),
    # hex with a 0x prefix, or long hex runs holding both a digit and a letter
    (r"\b0[xX][0-9a-fA-F]+\b", WILD),
    (
        r"\b[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*\b",
        WILD,
    ),
    # numbers, alone or as the tail/head of an identifier (blk_-123, appattempt_1_0020, 12ms)
    (r"[-+]?\b\d+(?:[.,:]\d+)*(?:[A-Za-z]{1,3})?\b", WILD),
]
# a token holding a masked part is variable as a whole (`rhost=<*>.example.net`, `<*>,<*>`,
# `cp-<*>`); a `key=` or `key:` in front of it stays
COLLAPSE = (r"[^\s=:]+<\*>[^\s]*|<\*>[^\s]+", WILD)


def _ascii(rx: str) -> str:
    """ASCII digits, word characters and word boundaries: the Unicode classes cost the regex
    engine its fast path, and variable values are ASCII."""
    return rx.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]").replace(r"\w", "[0-9A-Za-z_]")


def _mask_passes() -> tuple[list[str], str]:
    """The masks as few regex passes: the deleting ones, then every <*> mask as one alternation
    (leftmost-first: at one position the earlier mask wins, as when they ran in order)."""
    drop = [_ascii(rx) for rx, rep in MASKS if rep == ""]
    alt = "|".join(f"(?:{_ascii(rx)})" for rx, rep in MASKS if rep == WILD)
    return drop, alt


_DROP, _ALT = _mask_passes()


def mask_expr(text: pl.Expr) -> pl.Expr:
    """A message with its variable tokens masked and whitespace collapsed."""
    t = text
    for rx in _DROP:
        t = t.str.replace_all(rx, "")
    t = t.str.replace_all(_ALT, WILD)
    t = t.str.replace_all(_ascii(COLLAPSE[0]), COLLAPSE[1])
    # only runs and non-space whitespace need replacing: a replacement per single space costs
    return t.str.replace_all(r"\s\s+|[\t\r\n\v\f]", " ").str.strip_chars()


# Lines that continue the event above them. The ingest's rule (parsers/payloads.py:
# CONTINUATION_RE: stack frames, `Caused by:`, `... N more`, lines indented 4+ spaces, blank
# lines), plus the pieces of a pretty-printed object: a line indented by any whitespace
# (Node's util.inspect writes `  errno: -2,` at two spaces) and a line holding only closers
# (`}`, `]`, `})`, `},`). Used on payloads, after the envelope (kubectl, CRI) is removed.
STRUCTURE_CONTINUATION_RE = r"^(?:\s+\S|\s*[}\])]+[,;]?\s*$)"


def is_continuation(payload: pl.Expr) -> pl.Expr:
    """True for a line that belongs to the event above it (a JSON document line never does)."""
    return ~payload.str.starts_with("{") & (
        payload.str.contains(CONTINUATION_RE) | payload.str.contains(STRUCTURE_CONTINUATION_RE)
    )


def message_expr(payload: pl.Expr) -> pl.Expr:
    """The text a template is mined from: a JSON logger's `msg`/`message` when there is one."""
    return (
        pl.when(payload.str.starts_with("{"))
        .then(
            pl.coalesce(
                payload.str.json_path_match("$.msg"), payload.str.json_path_match("$.message"), payload
            )
        )
        .otherwise(payload)
    )


def mine(messages: pl.Series | list[str]) -> pl.DataFrame:
    """Group messages by template.

    Returns one row per message, in input order: `row` (0-based), `template_id` (1-based, in
    order of first appearance) and `template` (the group's tokens, variable positions `<*>`).
    """
    s = (
        messages.rename("message")
        if isinstance(messages, pl.Series)
        else pl.Series("message", messages, dtype=pl.String)
    )
    df = pl.DataFrame({"message": s.cast(pl.String).fill_null("")}).with_row_index("row")
    if df.height == 0:
        return pl.DataFrame(schema={"row": pl.UInt32, "template_id": pl.UInt32, "template": pl.String})
    # masking and grouping work on distinct texts: logs repeat themselves
    # (by a 64-bit hash of the text: grouping and joining integers is several times cheaper than
    # strings; two texts sharing a hash, about 1 in 10^7 for a million distinct lines, would share
    # a template)
    df = df.with_columns(pl.col("message").hash().alias("h"))
    raw = df.group_by("h").agg(
        pl.col("message").first(), pl.len().alias("rc"), pl.col("row").min().alias("first_row")
    )
    raw = raw.with_columns(mask_expr(pl.col("message")).alias("masked"))
    uniq = (
        raw.group_by("masked")
        .agg(pl.col("rc").sum().alias("cnt"), pl.col("first_row").min())
        .with_row_index("u")
        .with_columns(pl.col("masked").str.split(" ").alias("tok"))
        .with_columns(pl.col("tok").list.len().alias("n"))
    )
    t = (
        uniq.select("u", "n", "cnt", "tok")
        .explode("tok")
        .with_columns(pl.int_range(pl.len()).over("u").alias("pos"))
    )
    # how many lines of the same length hold this token at this position
    t = t.with_columns(pl.col("cnt").sum().over("n", "pos", "tok").alias("freq"))
    # per line: the frequency most of its tokens share (ties: the larger); those tokens are
    # the line's pattern, the rest candidates (constant within the group, a split, or variable)
    f = (
        t.group_by("u", "freq")
        .agg(pl.len().alias("k"))
        .sort(["u", "k", "freq"], descending=[False, True, True])
        .group_by("u")
        .agg(pl.col("freq").first().alias("pfreq"))
    )
    t = t.join(f, on="u").with_columns((pl.col("freq") == pl.col("pfreq")).alias("const"))
    key = t.group_by("u").agg(
        pl.when(pl.col("const"))
        .then(pl.col("tok"))
        .otherwise(pl.lit(WILD))
        .str.join("\x1f")
        .alias("pattern"),
    )
    t = t.join(key, on="u")
    # inside a group, a candidate position with few distinct tokens splits it (or is constant)
    col = (
        t.filter(~pl.col("const"))
        .group_by("n", "pattern", "pos", "tok")
        .agg(pl.col("cnt").sum())
        .group_by("n", "pattern", "pos")
        .agg(
            pl.len().alias("distinct"),
            pl.col("cnt").min().alias("rarest"),
            pl.col("tok").str.contains(WILD, literal=True).any().alias("masked"),
        )
    )
    # a position where one line holds a masked value holds values on every line
    split = col.filter(
        (pl.col("distinct") <= MAX_SPLIT) & (pl.col("rarest") >= MIN_SPLIT_LINES) & ~pl.col("masked")
    )
    t = t.join(
        split.select("n", "pattern", "pos", pl.lit(True).alias("split")),
        on=["n", "pattern", "pos"],
        how="left",
    )
    t = t.with_columns((pl.col("const") | pl.col("split").fill_null(False)).alias("const"))
    grp = t.group_by("u").agg(
        pl.col("n").first(),
        pl.when(pl.col("const")).then(pl.col("tok")).otherwise(pl.lit(WILD)).str.join("\x1f").alias("key"),
    )
    t = t.join(grp.select("u", pl.struct("n", "key").rank("dense").alias("gid")), on="u")
    # the template: per group and position, the token when every line holds the same one
    tmpl = (
        t.group_by("gid", "pos")
        .agg(pl.col("tok").first(), (pl.col("tok").n_unique() == 1).alias("same"))
        .sort("gid", "pos")
        .group_by("gid")
        .agg(
            pl.when(pl.col("same"))
            .then(pl.col("tok"))
            .otherwise(pl.lit(WILD))
            .str.join(" ")
            .alias("template")
        )
    )
    ids = (
        uniq.select("u", "first_row")
        .join(t.select("u", "gid").unique("u"), on="u")
        .group_by("gid")
        .agg(pl.col("first_row").min())
        .sort("first_row")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).alias("template_id"))
        .join(tmpl, on="gid")
    )
    per_masked = uniq.select("u", "masked").join(t.select("u", "gid").unique("u"), on="u").join(ids, on="gid")
    per_raw = raw.select("h", "masked").join(
        per_masked.select("masked", "template_id", "template"), on="masked"
    )
    return df.join(per_raw, on="h", how="left", maintain_order="left").select(
        "row", "template_id", "template"
    )


def read_payloads(path: str | Path) -> pl.DataFrame:
    """Every line of a log file (plain, .gz or .zst) as `line` (1-based) and `payload`: the text
    after the runtime's envelope (kubectl prefix, CRI, Docker JSON, Loki) when the file has one."""
    from ..parsers.envelopes import detect_envelope, split_envelope
    from ..parsers.pipeline import PY_ENVELOPES, split_lines
    from ..parsers.readers import iter_chunks

    frames = [split_lines(c).select("line_no", "line") for c in iter_chunks(str(path))]
    if not frames:
        return pl.DataFrame(schema={"line": pl.Int64, "payload": pl.String})
    df = pl.concat(frames).with_columns(pl.col("line").fill_null(""))
    env = detect_envelope(df.get_column("line").head(400).to_list())
    if env != "plain" and env not in PY_ENVELOPES:
        df = split_envelope(df, env).with_columns(pl.coalesce("payload", "line").alias("line"))
    return df.select(pl.col("line_no").alias("line"), pl.col("line").alias("payload"))


def mine_files(paths: list[str | Path]) -> pl.DataFrame:
    """Templates of whole files, one row per line, in file order: `path`, `line` (1-based),
    `template_id`, `template`, `continuation` and `text` (the payload).

    Templates are mined over all files together, so one id means one template across files.
    A continuation line (stack frame, piece of a printed object) takes the template of the
    event line above it in its file; it is never a template of its own."""
    frames = [read_payloads(p).with_columns(pl.lit(str(p)).alias("path")) for p in paths]
    schema = {
        "path": pl.String,
        "line": pl.Int64,
        "template_id": pl.UInt32,
        "template": pl.String,
        "continuation": pl.Boolean,
        "text": pl.String,
    }
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema=schema)
    df = pl.concat(frames).with_row_index("_i")
    df = df.with_columns(is_continuation(pl.col("payload")).alias("continuation"))
    # a continuation with no event above it in its file stands alone
    df = df.with_columns(
        (pl.col("continuation") & (~pl.col("continuation")).cum_sum().over("path").gt(0)).alias(
            "continuation"
        )
    )
    events = df.filter(~pl.col("continuation")).with_columns(message_expr(pl.col("payload")).alias("message"))
    m = mine(events.get_column("message"))
    events = events.select("_i", m.get_column("template_id"), m.get_column("template"))
    df = df.join(events, on="_i", how="left", maintain_order="left").with_columns(
        pl.col("template_id").forward_fill().over("path"), pl.col("template").forward_fill().over("path")
    )
    return df.select(
        "path", "line", "template_id", "template", "continuation", pl.col("payload").alias("text")
    )


def summarize(per_line: pl.DataFrame) -> pl.DataFrame:
    """One row per template of `mine_files`: `template_id`, `count` (event lines; continuation
    lines not counted), `continuation_lines`, `template`, and the first line holding it."""
    return (
        per_line.group_by("template_id", maintain_order=True)
        .agg(
            (~pl.col("continuation")).sum().alias("count"),
            pl.col("continuation").sum().alias("continuation_lines"),
            pl.col("template").first(),
            pl.col("path").filter(~pl.col("continuation")).first().alias("example_path"),
            pl.col("line").filter(~pl.col("continuation")).first().alias("example_line"),
            pl.col("text").filter(~pl.col("continuation")).first().alias("example"),
        )
        .sort(["count", "template_id"], descending=[True, False])
    )


def group_accuracy(predicted: pl.Series, truth: pl.Series) -> float:
    """Loghub's Group Accuracy (Zhu et al., ICSE-SEIP 2019): the share of lines whose predicted
    group holds exactly the lines of their true group."""
    df = pl.DataFrame({"p": predicted, "t": truth})
    pair = (
        df.group_by("p", "t")
        .agg(pl.len().alias("both"))
        .join(df.group_by("p").agg(pl.len().alias("np")), on="p")
        .join(df.group_by("t").agg(pl.len().alias("nt")), on="t")
    )
    ok = pair.filter((pl.col("both") == pl.col("np")) & (pl.col("both") == pl.col("nt")))
    return float(ok.get_column("both").sum()) / df.height if df.height else 1.0
