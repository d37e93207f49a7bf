"""pmortem command line: a thin layer over the library (pmortem.api).

The contract (README "Usage"):
  * exit 0 fine, 1 findings at or above --fail-on (scan), 2 a problem you must fix, printed as
    one line `pmortem: error: ...`, 130 interrupted (Ctrl-C: one line `pmortem: interrupted`);
  * options are checked before any work (sizes, durations, times, the --out folder);
  * report, scan's analysis, sources and sql open the database read-only and never write it
    (sql writes only with --write);
  * one --format vocabulary (-f): text, md, csv, json (table = text, markdown = md), and
    -o/--out FILE wherever output is written.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shutil
import sys

import click

from . import __version__
from .api import DEFAULT_DB, parse_duration, parse_size, parse_time
from .errors import PmortemError, SQLError, UserError
from .safe_text import visible, visible_obj

# ---------------------------------------------------------------- errors, Ctrl-C, one line each


class _Fail(click.ClickException):
    """A message already worded for the user, printed as it is."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(visible(self.message), err=True, file=file)


def _interrupt_like(exc: BaseException | None) -> bool:
    """Ctrl-C, or what it became on the way out. DuckDB turns Ctrl-C during a query into
    duckdb.InterruptException (matched by name: `pmortem --help` stays free of duckdb; while
    it opens a file, a RuntimeError "Query interrupted"), and
    the interrupted query's transaction is gone, so the clean-up that follows (a ROLLBACK)
    may fail in turn, or a caller may have re-worded the error: the chain of exceptions
    (__context__, __cause__) still holds the interrupt."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "InterruptException":
            return True
        if (
            type(exc) is RuntimeError and str(exc).strip().lower() == "query interrupted"
        ):  # DuckDB, during ATTACH
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _usage_line(exc: click.UsageError) -> str:
    path = exc.ctx.command_path if exc.ctx is not None else "pmortem"
    return f"pmortem: error: {exc.format_message()} (see `{path} --help`)"


def _translate(exc: BaseException) -> _Fail | None:
    if _interrupt_like(exc):
        return _Fail("pmortem: interrupted", 130)
    if isinstance(exc, PmortemError):
        return _Fail(f"pmortem: error: {exc.message}", exc.exit_code)
    if isinstance(exc, click.UsageError):
        return _Fail(_usage_line(exc), 2)
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryException":
        return _Fail(
            f"pmortem: error: out of memory ({str(exc).splitlines()[0] if str(exc) else 'MemoryError'}); "
            "pass a larger --memory-limit, or fewer --threads",
            2,
        )
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return _Fail(f"pmortem: error: {exc.strerror}:{where}", 2)
    return None


_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # `pmortem` alone: click shows the help


class PmortemGroup(click.Group):
    """Every PmortemError, usage error and Ctrl-C leaves as one line with its exit code."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _NO_ARGS:
            raise
        except click.UsageError as exc:
            raise _Fail(_usage_line(exc), 2) from None
        except KeyboardInterrupt:
            raise _Fail("pmortem: interrupted", 130) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, _Fail, SystemExit):
            raise
        except _NO_ARGS:
            raise
        except click.ClickException as exc:
            fail = _translate(exc)
            raise (fail or exc) from None
        except BaseException as exc:  # noqa: BLE001 - translated, or re-raised as it was
            fail = _translate(exc)
            if fail is None:
                raise
            raise fail from None


# ---------------------------------------------------------------- typed parameters


class SizeType(click.ParamType):
    name = "size"

    def get_metavar(self, param, ctx=None):
        return "SIZE"

    def convert(self, value, param, ctx):
        try:
            return parse_size(value, "")
        except PmortemError as exc:
            self.fail(exc.message.strip(), param, ctx)


class DurationType(click.ParamType):
    name = "duration"

    def get_metavar(self, param, ctx=None):
        return "DURATION"

    def convert(self, value, param, ctx):
        try:
            return parse_duration(value, "")
        except PmortemError as exc:
            self.fail(exc.message.strip(), param, ctx)


class TimeType(click.ParamType):
    name = "time"

    def get_metavar(self, param, ctx=None):
        return "TIME"

    def convert(self, value, param, ctx):
        try:
            return parse_time(value, "")
        except PmortemError as exc:
            self.fail(exc.message.strip(), param, ctx)


class OutFile(click.ParamType):
    """An output file whose folder exists and can be written: checked before any work."""

    name = "file"

    def get_metavar(self, param, ctx=None):
        return "FILE"

    def convert(self, value, param, ctx):
        path = os.fspath(value)
        if path == "-":
            return None
        if os.path.isdir(path):
            self.fail(
                f"{path!r} is a folder; name a file in it, e.g. {os.path.join(path, 'out.md')}", param, ctx
            )
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            self.fail(
                f"folder {os.path.dirname(path) or folder!r} does not exist; create it first (mkdir -p)",
                param,
                ctx,
            )
        if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
            self.fail(f"{path!r} cannot be written (permission denied)", param, ctx)
        return path


FORMAT_ALIASES = {"table": "text", "markdown": "md", "txt": "text"}


class FormatType(click.ParamType):
    """One vocabulary across commands: text, md, csv, json (table = text, markdown = md)."""

    name = "format"

    def __init__(self, choices: tuple[str, ...]):
        self.choices = choices

    def get_metavar(self, param, ctx=None):
        return "[" + "|".join(self.choices) + "]"

    def convert(self, value, param, ctx):
        v = str(value).strip().lower()
        v = FORMAT_ALIASES.get(v, v)
        if v not in self.choices:
            self.fail(f"{value!r} is not one of {', '.join(self.choices)}", param, ctx)
        return v

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete)]


def format_option(choices=("text", "md", "csv", "json"), default="text", what="Output format", text=None):
    aliases = ", ".join(f"{a} = {c}" for a, c in FORMAT_ALIASES.items() if c in choices and a != "txt")
    if text:
        aliases = text
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=FormatType(choices),
        default=default,
        show_default=True,
        help=f"{what}: {', '.join(choices)}" + (f" ({aliases})." if aliases else "."),
    )


def out_option(what="the output"):
    return click.option(
        "--out", "-o", "out", type=OutFile(), default=None, help=f"Write {what} to FILE (default: stdout)."
    )


def db_option(f):
    @click.option(
        "--db",
        default=DEFAULT_DB,
        show_default=True,
        envvar="PMORTEM_DB",
        type=click.Path(dir_okay=False),
        help="DuckDB database file.",
    )
    @click.option(
        "--wait",
        default=10.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Seconds to wait for another pmortem using the database.",
    )
    @functools.wraps(f)
    def wrapper(*a, **kw):
        return f(*a, **kw)

    return wrapper


data_option = click.option(
    "--data",
    type=click.Path(file_okay=False),
    default=None,
    help="A Parquet dataset (`ingest --engine spark --out DIR`) instead of --db, read through DuckDB views.",
)


def _open_read(db: str, wait: float, data: str | None):
    """The database read-only, or the Parquet dataset `data` when given."""
    from .db import open_data, open_existing

    return open_data(data) if data else open_existing(db, wait=wait, read_only=True)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Config file (patterns, labels, [[redact]], [peers]; default: ./pmortem.toml when present).",
)


def _write(text: str, out: str | None) -> None:
    """To stdout, or to FILE through a temporary next to it (an interrupted run leaves no half file).
    Control characters from the logs are made visible either way (pmortem/safe_text.py)."""
    text = visible(text)
    if not out:
        click.echo(text, nl=False)
        return
    tmp = f"{out}.pmortem-tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------- tables


def _cell(v) -> str:
    import datetime as dt
    import decimal

    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        if v != 0 and abs(v) < 0.001:
            return f"{v:.3g}"
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, decimal.Decimal):
        return f"{v:,}"
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return str(v)
    s = str(v)
    return visible(s.replace("\r\n", " ⏎ ").replace("\n", " ⏎ ").replace("\t", " "))


def _is_number(v) -> bool:
    import decimal

    return isinstance(v, int | float | decimal.Decimal) and not isinstance(v, bool)


def _is_path_column(name: str) -> bool:
    n = name.lower()
    return "path" in n or n in ("file", "filename", "source", "abspath")


def truncate(text: str, width: int, *, left: bool = False) -> str:
    """`text` in at most `width` characters, the cut marked with `…`: from the left for paths
    (`…/pods/app.log`, the file name is what tells them apart), from the right otherwise."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    return "…" + text[-(width - 1) :] if left else text[: width - 1] + "…"


# no terminal (a pipe, a file): a cell still ends somewhere; csv and json give whole values
UNBOUNDED_CELL = 120


def terminal_width() -> int | None:
    """The terminal's columns ($COLUMNS first), or None when output goes to no terminal."""
    size = shutil.get_terminal_size(fallback=(0, 0))
    return size.columns or None


def format_table(cols: list[str], rows: list[tuple], width: int | None = None) -> str:
    """Aligned columns that fit `width`: numbers right-aligned with thousands separators and
    never cut; the widest text columns give way first, paths cut from the left."""
    n = len(cols)
    cells = [[_cell(v) for v in r] for r in rows]
    numeric = [
        bool(rows)
        and all(r[i] is None or _is_number(r[i]) for r in rows)
        and any(r[i] is not None for r in rows)
        for i in range(n)
    ]
    data_w = [max([0] + [len(r[i]) for r in cells]) for i in range(n)]
    natural = [max(len(c), data_w[i]) for i, c in enumerate(cols)]
    if width is None:
        widths = [w if numeric[i] else min(w, UNBOUNDED_CELL) for i, w in enumerate(natural)]
    else:
        avail = max(width - 2 * (n - 1), n)
        # numbers are never cut (their headers may be, to 8); text keeps at least 8 characters
        floor = [max(data_w[i], min(len(cols[i]), 8)) if numeric[i] else min(natural[i], 8) for i in range(n)]
        widths = natural[:]
        if sum(widths) > avail:
            # the largest cap C such that every column at min(natural, max(C, floor)) fits
            lo, hi = 0, max(natural)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if sum(min(natural[i], max(mid, floor[i])) for i in range(n)) <= avail:
                    lo = mid
                else:
                    hi = mid - 1
            widths = [min(natural[i], max(lo, floor[i])) for i in range(n)]
            spare = avail - sum(widths)
            for i in sorted(range(n), key=lambda i: -natural[i]):  # hand out what the cap left over
                if spare <= 0:
                    break
                add = min(spare, natural[i] - widths[i])
                widths[i] += add
                spare -= add
    paths = [_is_path_column(c) for c in cols]

    def line(values, header=False):
        out = []
        for i, v in enumerate(values):
            t = truncate(v, widths[i], left=paths[i] and not header)
            out.append(t.rjust(widths[i]) if numeric[i] else t.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [line(cols, header=True), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in cells]
    return "\n".join(lines) + "\n"


def _md_table(cols: list[str], rows: list[tuple]) -> str:
    def esc(v) -> str:
        return _cell(v).replace("|", "\\|")

    out = ["| " + " | ".join(esc(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(esc(v) for v in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def render_rows(cols: list[str], rows: list[tuple], fmt: str) -> str:
    if fmt == "json":
        return (
            json.dumps([visible_obj(dict(zip(cols, r, strict=True))) for r in rows], default=str, indent=2)
            + "\n"
        )
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows([[visible(v) for v in r] for r in rows])
        return buf.getvalue()
    if fmt == "md":
        return _md_table(cols, rows)
    return format_table(cols, rows, terminal_width())


def _emit(cols: list[str], rows: list[tuple], fmt: str, out: str | None = None) -> None:
    _write(render_rows(cols, rows, fmt), out)
    if fmt == "text" and not out:
        click.echo(f"({len(rows):,} rows)", err=True)


# ---------------------------------------------------------------- commands


@click.group(name="pmortem", cls=PmortemGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pmortem")
def main() -> None:
    """pmortem: turn an incident's log exports into a postmortem with evidence.

    \b
    Typical morning after:
      pmortem ingest ./incident-logs/          # parse into ./pmortem.duckdb
      pmortem sources                          # what was read, how much was rejected
      pmortem report -o postmortem.md          # causal chain, evidence, SQL
      pmortem sql "SELECT kind, count(*) FROM events GROUP BY ALL"

    Exit codes: 0 fine, 1 findings at or above --fail-on (scan), 2 a problem to fix
    (one line on stderr), 130 interrupted.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True)
@db_option
@click.option(
    "--input-format",
    type=str,
    default=None,
    help="Force the input format when detection guesses wrong (cri, kubectl, kubectl_prefix, docker, loki, es_ndjson, otel_span_ndjson, plain, document, document_lines).",
)
@click.option("--service", help="Service name for sources that carry no metadata.")
@click.option("--pod", help="Pod name for sources that carry no metadata.")
@click.option("--host", help="Node/host name for sources that carry no metadata.")
@click.option("--namespace", help="Namespace for sources that carry no metadata.")
@click.option("--container", help="Container name for sources that carry no metadata.")
@click.option(
    "--tz", default="UTC", show_default=True, help="Time zone of timestamps written without one (IANA name)."
)
@click.option(
    "--encoding",
    help="Input encoding when not UTF-8, e.g. latin-1 or cp1252 (UTF-16 with a BOM is detected).",
)
@click.option(
    "--store-lines",
    is_flag=True,
    help="Also copy every line into the `lines` table (slower, larger; see bench/README.md).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Threads for DuckDB and polars (default: all cores); 1 also reads and scans in the main thread.",
)
@click.option(
    "--memory-limit",
    type=SizeType(),
    help="DuckDB memory limit (default 64MB; 256MB with --store-lines), e.g. 1GB or 1.5GiB.",
)
@config_option
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="local: this machine, into --db. spark: Apache Spark (pip install 'pmortem[spark]'), into a "
    "Parquet dataset --out DIR that `report --data DIR` reads.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="--engine spark: the Parquet dataset directory.",
)
@click.option(
    "--spark-master",
    help="--engine spark: the master URL, e.g. 'local[2]' or spark://host:7077 (default: spark-submit's, "
    "else local[*]).",
)
@click.option(
    "--split-size",
    help="--engine spark: bytes per task of a large uncompressed file (default 128MiB), e.g. 64MiB.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def ingest(
    paths,
    db,
    wait,
    input_format,
    service,
    pod,
    host,
    namespace,
    container,
    tz,
    encoding,
    store_lines,
    threads,
    memory_limit,
    config_path,
    engine,
    out_dir,
    spark_master,
    split_size,
    quiet,
):
    """Parse log files, directories, globs, .gz/.zst files, object-store URLs (s3://, gs://,
    hdfs://, abfs://: an object, a prefix or a glob) or - (stdin) into the database.

    Re-running is safe: unchanged files are skipped, appended files add only
    their new lines, and an interrupted run (Ctrl-C, kill) resumes where it stopped.

    \b
    Example:
      pmortem ingest samples/incident/
      pmortem ingest 'exports/**/*.log.gz' --db incident.duckdb
      kubectl logs deploy/campaign --timestamps | pmortem ingest - --service campaign
      pmortem ingest app.log --tz Europe/Berlin --service checkout
      pmortem ingest s3://incident-2026-12-04/logs/      # AWS_* credentials; AWS_ENDPOINT_URL for MinIO
      pmortem ingest s3://fleet-logs/2026/12/ --engine spark --out dataset/ --spark-master 'local[2]'
    """
    from .api import ingest as run

    summary = run(
        list(paths),
        db,
        input_format=input_format,
        service=service,
        pod=pod,
        host=host,
        namespace=namespace,
        container=container,
        tz=tz,
        encoding=encoding,
        store_lines=store_lines,
        threads=threads,
        memory_limit=memory_limit,
        config=config_path,
        wait=wait,
        progress=None if not quiet else False,
        engine=engine,
        out=out_dir,
        spark_master=spark_master,
        split_size=split_size,
    )
    if engine == "spark":
        db = out_dir
    global _ended_cleanly
    _ended_cleanly = True  # the database is closed: the console entry may skip the teardown
    damaged = [s for s in summary.sources if s.error and s.action != "refused"]
    refused = [s for s in summary.sources if s.action == "refused"]
    if not quiet:
        _print_summary(summary, db)
    problems = []
    if refused:
        problems.append(f"{len(refused)} source(s) refused: " + "; ".join(s.error or s.path for s in refused))
    if damaged:
        problems.append(
            f"{len(damaged)} source(s) were damaged; kept what was readable: "
            + "; ".join(f"{s.path}: {s.error}" for s in damaged)
        )
    if summary.refused:
        # the rest was ingested; exit 2 says an input was left out (listed above, and here)
        problems.append(
            f"{len(summary.refused)} input(s) skipped: "
            + "; ".join(f"{p}: {why}" for p, why in summary.refused[:10])
            + (" ..." if len(summary.refused) > 10 else "")
        )
    if problems:
        raise UserError("; ".join(problems))


def _print_summary(summary, db: str) -> None:
    t = summary.totals()
    for s in summary.sources:
        extra = f"  ({s.error})" if s.error else ""
        if s.undecodable:
            extra += f"  ({s.undecodable:,} lines are not UTF-8; if the file is latin-1 or cp1252, re-run with --encoding)"
        _say(
            f"{s.action:<10} {s.format or '-':<16} {s.lines:>10,} lines {s.events:>8,} events {s.rejected:>6,} rejected  {s.path}{extra}",
            err=True,
        )
    from .parsers import native

    slow = [
        s
        for s in summary.sources
        if s.format in native.ENVELOPE_CODES and s.action not in ("unchanged", "renamed", "same-as")
    ]
    if slow and native.missing_reason():
        _say(
            f"note: {native.missing_reason()}; line-envelope files went through the slower polars path "
            "(reinstall with a C compiler present: pip install --force-reinstall --no-deps .)",
            err=True,
        )
    if summary.skipped:
        _say(
            f"skipped {len(summary.skipped)} non-log file(s) in directories (docs, runtime metadata): "
            + ", ".join(summary.skipped[:5])
            + (" ..." if len(summary.skipped) > 5 else ""),
            err=True,
        )
    for p, why in summary.refused:
        _say(f"skipped    {p}: {why}", err=True)
    rate = summary.bytes / summary.seconds / 1e6 if summary.seconds else 0
    _say(
        f"{t['sources']} sources ({t['unchanged']} unchanged), {t['lines']:,} lines, {t['events']:,} events, "
        f"{t['rejected']:,} rejected in {summary.seconds:.1f}s ({rate:,.0f} MB/s) -> {db}",
        err=True,
    )


def _say(text: str, err: bool = True) -> None:
    """One line to the terminal (stderr by default), control characters made visible."""
    click.echo(visible(text), err=err)


@main.command()
@click.argument("query")
@db_option
@format_option()
@out_option("the rows")
@click.option(
    "--write",
    is_flag=True,
    help="Open the database writable (DELETE, UPDATE, CREATE ...); without it the query runs read-only.",
)
@data_option
def sql(query, db, wait, fmt, out, write, data):
    """Run an ad-hoc SQL query against the database (tables: sources, events, rejects, line_index, lines).

    The database is opened read-only unless --write is given.

    \b
    Example:
      pmortem sql "SELECT pod, count(*) FROM events WHERE kind = 'worker_exit' GROUP BY ALL"
      pmortem sql "SELECT * FROM rejects LIMIT 20" -f csv -o rejects.csv
      pmortem sql --write "DELETE FROM events WHERE pod = 'scratch-1'"
    """
    import duckdb

    from .db import open_existing

    if data and write:
        raise UserError("--write changes a database; a Parquet dataset (--data) is read-only")
    con = _open_read(db, wait, data) if data else open_existing(db, wait=wait, read_only=not write)
    try:
        cur = con.execute(query)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if cols else []
    except duckdb.Error as exc:
        if _interrupt_like(exc):
            raise
        msg = str(exc).rstrip()
        if not write and "read-only mode" in msg:
            raise SQLError(
                f"pmortem sql opens {db} read-only and this statement writes; nothing was changed. "
                "Pass --write to change the database."
            ) from None
        raise SQLError(f"SQL failed: {msg}") from None
    finally:
        con.close()
    _emit(cols, rows, fmt, out)


SOURCE_COLUMNS = [
    "source_id",
    "path",
    "format",
    "service",
    "namespace",
    "pod",
    "container",
    "host",
    "lines",
    "lines_parsed",
    "lines_rejected",
    "lines_folded",
    "lines_generic",
    "lines_duplicate",
    "events",
    "first_ts",
    "last_ts",
    "status",
    "error",
    "fingerprint",
    "entity_source",
]


@main.command()
@db_option
@format_option()
@out_option("the list")
@data_option
def sources(db, wait, fmt, out, data):
    """List ingested sources: format, entities, time span, and the line accounting.

    Every line is either parsed or rejected: lines = lines_parsed + lines_rejected.
    lines_overlap: lines another source also holds (same pod, container, level and minute;
    queries/source_overlap.sql); lines_duplicate: lines of events another source already
    had, stored once.

    \b
    Example:
      pmortem sources
      pmortem sources -f json | jq '.[] | select(.lines_rejected > 0)'
    """
    from .analyzer.sqlrun import load_sql

    con = _open_read(db, wait, data)
    try:
        cur = con.execute(f"SELECT {', '.join(SOURCE_COLUMNS)} FROM sources ORDER BY source_id")
        rows = cur.fetchall()
        overlap = dict(con.execute(load_sql("source_overlap")).fetchall())
    finally:
        con.close()
    cols_all = [*SOURCE_COLUMNS, "lines_overlap"]
    rows = [(*r, overlap.get(r[0], 0)) for r in rows]
    if fmt in ("text", "md"):
        cols = [
            "source_id",
            "format",
            "pod",
            "lines",
            "lines_parsed",
            "lines_rejected",
            "lines_overlap",
            "events",
            "first_ts",
            "last_ts",
            "status",
            "path",
        ]
        idx = [cols_all.index(c) for c in cols]
        _emit(cols, [tuple(r[i] for i in idx) for r in rows], fmt, out)
    else:
        _emit(cols_all, rows, fmt, out)


def last_text(d) -> str:
    """A --last duration as given: 3600 s -> 1h, 90 s -> 90s."""
    s = int(d.total_seconds())
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s and s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


def _command_line(name: str) -> str:
    return "pmortem " + " ".join(sys.argv[1:]) if sys.argv[1:2] == [name] else f"pmortem {name}"


@main.command()
@db_option
@click.option(
    "--since",
    type=TimeType(),
    help="Window start (ISO 8601, UTC unless it says otherwise). Default: found from the data.",
)
@click.option("--until", type=TimeType(), help="Window end (ISO 8601). Default: found from the data.")
@click.option("--service", help="Only this service (pod name prefix or service name).")
@out_option("the report")
@format_option(
    ("md", "text", "json", "html"),
    default="md",
    what="Markdown, JSON or one self-contained HTML page",
    text="text = md = markdown",
)
@click.option(
    "--tolerance",
    "tolerance_s",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds within which two events count as one (paired errors, deaths).",
)
@click.option(
    "--sql",
    "sql_mode",
    type=click.Choice(["sidecar", "inline", "appendix", "none"]),
    default=None,
    help="Where each finding's SQL goes: a sidecar file next to --out (postmortem.md -> "
    "postmortem.sql, each query once; the finding names the query), inline under the finding, an "
    "appendix (each query once), or none. Default: sidecar with --out, none on stdout (Markdown), "
    "appendix for HTML (one self-contained page). The JSON always has it.",
)
@click.option(
    "--skeleton",
    is_flag=True,
    help="Append the sections only people can write (detection, response and resolution timeline, "
    "customer impact, action items with owner and due date), pre-filled where the logs say something.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Threads for DuckDB (default: all cores).",
)
@click.option(
    "--memory-limit",
    type=SizeType(),
    help="DuckDB memory limit of the report (default 512MB), e.g. 1GB or 2GB; larger work spills to disk.",
)
@click.option("--quiet", "-q", is_flag=True, help="No stage line on stderr.")
@config_option
@data_option
def report(
    db,
    wait,
    since,
    until,
    service,
    out,
    fmt,
    tolerance_s,
    sql_mode,
    skeleton,
    threads,
    memory_limit,
    quiet,
    config_path,
    data,
):
    """Write the postmortem: trigger, mechanism, symptoms, evidence and the SQL behind every number.

    Exit code 0 whether or not an incident is found; read `incident` in the JSON.
    The database is opened read-only; an empty database or window, or a --service
    with no events, is refused (exit 2).

    \b
    Example:
      pmortem report -o postmortem.md
      pmortem report -f json -o report.json
      pmortem report -f html -o postmortem.html
      pmortem report --since 2022-04-08T20:50:00Z --until 2022-04-08T21:10:00Z --service campaign
    """
    from .api import report as build

    if since and until and since >= until:
        raise UserError("--since must be before --until")
    if sql_mode == "sidecar" and not out:
        raise UserError(
            "--sql sidecar needs --out FILE (the SQL goes next to it); on stdout use --sql appendix"
        )
    hint = False
    if sql_mode is None:
        sql_mode = "appendix" if fmt == "html" else "sidecar" if out else "none"
        hint = sql_mode == "none"
    rep = build(
        db,
        since,
        until,
        service,
        tolerance=tolerance_s,
        config=config_path,
        wait=wait,
        command=_command_line("report"),
        memory_limit=memory_limit,
        threads=threads,
        progress=False if quiet else None,
        data=data,
    )
    from .analyzer.render import sidecar_path

    sql_file = sidecar_path(out) if out and sql_mode == "sidecar" and fmt != "json" else None
    if fmt == "json":
        text = rep.to_json()
    elif fmt == "html":
        text = rep.to_html(sql=sql_mode, sql_file=sql_file, skeleton=skeleton)
    else:
        text = rep.to_markdown(sql=sql_mode, sql_file=sql_file, sql_hint=hint, skeleton=skeleton)
    if sql_file:
        _write(rep.to_sql(os.path.basename(out)), sql_file)
    _write(text, out)
    if out:
        click.echo(
            f"wrote {out}{f' and {sql_file}' if sql_file else ''} "
            f"({'incident' if rep.incident else 'no incident'}, {len(rep.findings)} findings)",
            err=True,
        )


SEVERITY_RANK = {"info": 0, "warning": 1, "incident": 2}


@main.command()
@click.argument("paths", nargs=-1)
@db_option
@click.option(
    "--fail-on",
    type=click.Choice(list(SEVERITY_RANK)),
    default="warning",
    show_default=True,
    help="Exit 1 when a NEW finding is at or above this severity.",
)
@click.option(
    "--last",
    "last",
    type=DurationType(),
    default=None,
    help="Only the most recent span of log time, ending at the newest event, e.g. 1h, 30m, 1d "
    "(default: everything). Findings outside it are left out.",
)
@click.option("--since", type=TimeType(), help="Window start (ISO 8601, UTC if no zone).")
@click.option("--until", type=TimeType(), help="Window end (ISO 8601, UTC if no zone).")
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Report every finding of the window, also those reported before (acknowledged ones stay quiet).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Tell what would be new without remembering it (the database is opened read-only).",
)
@click.option(
    "--input-format", default=None, help="Force the input format of PATHS (see `pmortem ingest --help`)."
)
@config_option
@format_option(("text", "md", "csv", "json"), default="text")
@out_option("the findings")
@click.option(
    "--with-sql",
    is_flag=True,
    help="JSON: add each finding's query (file, parameters and text); left out by default.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary line on stderr.")
@data_option
def scan(
    paths,
    db,
    wait,
    fail_on,
    last,
    since,
    until,
    all_,
    dry_run,
    input_format,
    config_path,
    fmt,
    out,
    with_sql,
    quiet,
    data,
):
    """Unattended check for cron/CI: ingest PATHS (if any), analyse the window, tell what is NEW.

    A finding already reported (same stable id) is not reported again unless its severity
    rose or --all is given; `pmortem ack ID` silences one on purpose; `pmortem findings`
    lists what the scans remember. Thresholds: [rules.<rule>] in pmortem.toml.

    Exit code 0: nothing new at or above --fail-on; 1: new findings at or above it; 2: a
    problem to fix (an unreadable path, a database locked past --wait, an empty database or
    window). The analysis opens the database read-only; the scan's memory (table scan_findings)
    is written after it, unless --dry-run.

    \b
    Example:
      pmortem scan /var/log/pods --last 1h --fail-on warning
      pmortem scan --db nightly.duckdb -f json -o findings.json
    """
    from .scanstate import alert_object
    from .scanstate import scan as run_scan

    if since and until and since >= until:
        raise UserError("--since must be before --until")
    from .scanstate import inputs_unchanged

    if data and paths:
        raise UserError(
            "scan --data reads a Parquet dataset as it is; add PATHS with `pmortem ingest --engine spark PATHS --out DIR`"
        )
    if paths and not inputs_unchanged(list(paths), db, wait):
        from .api import ingest as run_ingest

        summary = run_ingest(
            list(paths), db, input_format=input_format, wait=wait, config=config_path, progress=False
        )
        damaged = [x for x in summary.sources if x.error]
        if damaged:
            _say(
                f"warning: {len(damaged)} damaged or refused source(s): "
                + "; ".join(f"{x.path}: {x.error}" for x in damaged),
                err=True,
            )
        for p, why in summary.refused:
            _say(f"warning: skipped {p}: {why}")
    res = run_scan(
        db,
        since=since,
        until=until,
        last=last,
        config=config_path,
        wait=wait,
        all_=all_,
        dry_run=dry_run,
        data=data,
    )
    new = res.report
    hits = [f for f in new if SEVERITY_RANK.get(f["severity"], 0) >= SEVERITY_RANK[fail_on]]
    win = res.window
    from .analyzer.render import trim_ts

    span = f"{trim_ts(str(win.get('start')))} to {trim_ts(str(win.get('end')))}"
    if last:
        span += f" (--last {last_text(last)}, to the newest event)"
    alerts = [alert_object(f) for f in new]
    if with_sql:
        for a, f in zip(alerts, new, strict=True):
            if f.get("sql"):
                a["sql"] = f["sql"]
    if fmt == "json":
        text = (
            json.dumps(
                visible_obj(
                    {
                        "window": {
                            "start": win.get("start"),
                            "end": win.get("end"),
                            "last_s": last.total_seconds() if last else None,
                        },
                        "fail_on": fail_on,
                        "failed": bool(hits),
                        "findings": alerts,
                        "seen": len(res.findings),
                        "acknowledged": res.acknowledged,
                    }
                ),
                indent=2,
                default=str,
            )
            + "\n"
        )
        _write(text, out)
    elif fmt == "text":
        lines = []
        if alerts:
            what = "finding(s) (--all)" if all_ else "new finding(s)"
            lines.append(f"pmortem scan: window {span}: {len(alerts)} {what}")
        width = terminal_width()
        for a in alerts:
            mark = "!" if SEVERITY_RANK[a["severity"]] >= SEVERITY_RANK[fail_on] else " "
            line = (
                f"{mark} {a['severity']:<8} {a['id']}  {a['rule']:<26} {a['entity']}  {a['summary']}".rstrip()
            )
            lines.append(truncate(line, width) if width and not out else line)
        _write("".join(x + "\n" for x in lines), out)
    else:
        cols = ["failed", "id", "severity", "rule", "entity", "first_seen", "summary", "anchor"]
        rows = [
            (
                SEVERITY_RANK[a["severity"]] >= SEVERITY_RANK[fail_on],
                a["id"],
                a["severity"],
                a["rule"],
                a["entity"],
                a["first_seen"],
                a["summary"],
                a["anchor"],
            )
            for a in alerts
        ]
        _write(render_rows(cols, rows, fmt), out)
    if not quiet:
        click.echo(
            f"window {span}: {len(new)} new, {len(res.findings) - len(new) - res.acknowledged} already reported, "
            f"{res.acknowledged} acknowledged; {len(hits)} new at or above {fail_on} "
            f"({res.seconds:.2f}s{', nothing changed: analysis reused' if res.cached else ''})",
            err=True,
        )
    if hits:
        sys.exit(1)


@main.command()
@click.argument("finding_id", metavar="ID")
@db_option
@click.option(
    "--until",
    "until",
    type=TimeType(),
    help="Stay quiet until this time (ISO 8601 date or time; default: for good).",
)
@click.option("--reason", help="Why (shown by `pmortem findings`).")
def ack(finding_id, db, wait, until, reason):
    """Acknowledge a finding: scans stay quiet about it until its severity rises (or --until passes).

    ID is the finding's id as scan and `pmortem findings` print it (a unique prefix will do).

    \b
    Example:
      pmortem ack 37909e0b6efb --reason "48-core nodes drained, ticket OPS-123"
      pmortem ack 37909e0b6efb --until 2026-12-31
    """
    from .scanstate import ack as run_ack

    r = run_ack(db, finding_id, until=until, reason=reason, wait=wait)
    when = f" until {r['until'].isoformat()}" if r["until"] else ""
    click.echo(f"acknowledged {r['id']} ({r['severity']} {r['rule']}){when}: {r['summary']}", err=True)


@main.command()
@db_option
@click.option(
    "--status", type=click.Choice(["open", "acknowledged", "resolved"]), help="Only findings in this state."
)
@format_option(("text", "md", "csv", "json"), default="text")
@out_option("the list")
def findings(db, wait, status, fmt, out):
    """List what scans remember: open, acknowledged and resolved findings.

    \b
    Example:
      pmortem findings
      pmortem findings --status open -f json
    """
    from .scanstate import FINDINGS_COLUMNS, list_findings

    rows = list_findings(db, wait=wait, status=status)
    if fmt in ("text", "md"):
        cols = [
            "id",
            "status",
            "severity",
            "rule",
            "entity",
            "first_seen",
            "reported_at",
            "ack_until",
            "summary",
        ]
    else:
        cols = FINDINGS_COLUMNS
    _emit(cols, [tuple(r[c] for c in cols) for r in rows], fmt, out)


@main.command()
@db_option
@click.option(
    "--older-than",
    "older_than",
    type=DurationType(),
    required=True,
    help="Delete what is older than this span of log time before the newest event, e.g. 30d.",
)
def prune(db, wait, older_than):
    """Bound the database: delete events, line_index, lines and rejects older than the cutoff.

    The cutoff is log time: the newest event minus --older-than (as scan's --last). Kept:
    every source's fingerprint and offsets (re-ingest stays incremental), the scans' memory,
    and the CPU counts of the pruned pod starts, rolled up into cpu_count_history (the
    host-shape rule's baseline).

    \b
    Example:
      pmortem prune --older-than 30d
    """
    from .scanstate import prune as run_prune

    r = run_prune(db, older_than, wait=wait)
    if r.cutoff is None:
        click.echo(f"{db}: no events; nothing to prune", err=True)
        return
    d, k = r.deleted, r.kept
    click.echo(
        f"cutoff {r.cutoff.isoformat()} (newest event - {older_than}); deleted {d['events']:,} events, "
        f"{d['line_index']:,} line_index rows, {d['rejects']:,} rejects, {d['lines']:,} lines; "
        f"rolled {d['rolled_up_starts']:,} pod starts into cpu_count_history"
    )
    click.echo(
        f"kept {k['sources']:,} sources (fingerprints and offsets), {k['events']:,} events, "
        f"{k['line_index']:,} line_index rows, {k['rejects']:,} rejects, {k['scan_findings']:,} scan findings, "
        f"{k['cpu_count_history_starts']:,} rolled-up pod starts"
    )


@main.command()
@db_option
def migrate(db, wait):
    """Upgrade a database made by an older pmortem to this version's schema, in place.

    The read-only commands (report, scan's analysis, sources, sql) never upgrade a
    database; they ask for this (any `pmortem ingest` into it upgrades it too).

    \b
    Example:
      pmortem migrate --db incident.duckdb
    """
    import duckdb

    from .db import SCHEMA_VERSION, check_version, connect, migrate_db
    from .errors import DatabaseMissing

    if not os.path.exists(db):
        raise DatabaseMissing(f"no database at {db}; nothing to upgrade")
    con = connect(db, wait=wait, migrate=False)  # writable; refuses a file that is not pmortem's
    try:
        before = check_version(con, db)
        if before == SCHEMA_VERSION:
            click.echo(f"{db}: schema version {before}, up to date", err=True)
            return
        migrate_db(con, db)
    except duckdb.Error as exc:
        raise UserError(f"upgrading {db} failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    click.echo(f"{db}: schema version {before} -> {SCHEMA_VERSION}", err=True)


_ended_cleanly = False


def run() -> None:
    """The console entry (`pmortem`, `python -m pmortem.cli`). After an ingest, which closes
    its database and writes nothing else, the process exits without the interpreter's
    teardown of polars, DuckDB and every module: about 40 ms of each run (atexit handlers
    still run, and stdout and stderr are flushed). Other commands exit the usual way.
    Ctrl-C anywhere (even while click starts) is one line and exit 130."""
    from .api import ingest_environment

    ingest_environment()  # before numpy can be imported: see its docstring
    try:
        main(prog_name="pmortem")
    except SystemExit as exc:
        if exc.code == 130:  # interrupted: the database was closed on the way out; skip the teardown
            _fast_exit(130)
        if not _ended_cleanly:
            raise
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        print("pmortem: interrupted", file=sys.stderr)
        _fast_exit(130)
    else:
        if not _ended_cleanly:
            return
        code = 0
    _fast_exit(code)


def _fast_exit(code: int) -> None:
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass
    os._exit(code)


from .cli_templates import templates_command  # noqa: E402

main.add_command(templates_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
