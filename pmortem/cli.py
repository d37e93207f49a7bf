"""pmortem command line: a thin layer over pmortem.ingest, pmortem.query and pmortem.analyzer."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
import sys

import click

from . import __version__
from .db import DEFAULT_DB, open_existing
from .errors import UserError


def db_option(f):
    @click.option("--db", default=DEFAULT_DB, show_default=True, envvar="PMORTEM_DB", help="DuckDB database file.")
    @click.option("--wait", default=10.0, show_default=True, type=float, help="Seconds to wait for another pmortem using the database.")
    @functools.wraps(f)
    def wrapper(*a, **kw):
        return f(*a, **kw)

    return wrapper


def format_option(choices=("table", "csv", "json"), default="table"):
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True, help="Output format.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pmortem")
def main() -> None:
    """pmortem: turn an incident's log exports into a postmortem with evidence.

    \b
    Typical morning after:
      pmortem ingest ./incident-logs/          # parse into ./pmortem.duckdb
      pmortem sources                          # what was read, how much was rejected
      pmortem report --out postmortem.md       # causal chain, evidence, SQL
      pmortem sql "SELECT kind, count(*) FROM events GROUP BY ALL"
    """


@main.command()
@click.argument("paths", nargs=-1, required=True)
@db_option
@click.option("--input-format", type=str, default=None, help="Force the input format when detection guesses wrong (cri, kubectl, kubectl_prefix, docker, loki, es_ndjson, otel_span_ndjson, plain, document, document_lines).")
@click.option("--service", help="Service name for sources that carry no metadata.")
@click.option("--pod", help="Pod name for sources that carry no metadata.")
@click.option("--host", help="Node/host name for sources that carry no metadata.")
@click.option("--namespace", help="Namespace for sources that carry no metadata.")
@click.option("--container", help="Container name for sources that carry no metadata.")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of timestamps written without one (IANA name).")
@click.option("--encoding", help="Input encoding when not UTF-8, e.g. latin-1 or cp1252 (UTF-16 with a BOM is detected).")
@click.option("--store-lines", is_flag=True, help="Also copy every line into the `lines` table (slower, larger; see bench/README.md).")
@click.option("--threads", type=int, help="Threads for DuckDB and polars (default: all cores); 1 also reads and scans in the main thread.")
@click.option("--memory-limit", help="DuckDB memory limit (default 512MB; 256MB with --store-lines), e.g. 1GB.")
@click.option("--config", "config_path", help="Config file with extra patterns and labels (default: ./pmortem.toml when present).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def ingest(paths, db, wait, input_format, service, pod, host, namespace, container, tz, encoding, store_lines, threads, memory_limit, config_path, quiet):
    """Parse log files, directories, globs, .gz/.zst files or - (stdin) into the database.

    Re-running is safe: unchanged files are skipped, appended files add only
    their new lines, and an interrupted run resumes where it stopped.

    \b
    Example:
      pmortem ingest samples/incident/
      pmortem ingest 'exports/**/*.log.gz' --db incident.duckdb
      kubectl logs deploy/campaign --timestamps | pmortem ingest - --service campaign
      pmortem ingest app.log --tz Europe/Berlin --service checkout
    """
    if threads:
        import os

        os.environ["POLARS_MAX_THREADS"] = str(threads)
    from .ingest import IngestOptions
    from .ingest import ingest as run

    opts = IngestOptions(
        input_format=input_format,
        labels={"service": service, "pod": pod, "host": host, "namespace": namespace, "container": container},
        tz=tz,
        encoding=encoding,
        store_lines=store_lines,
        wait=wait,
        threads=threads,
        memory_limit=memory_limit,
        config_path=config_path,
    )
    summary = run(list(paths), db, opts, progress=None if not quiet else False)
    global _ended_cleanly
    _ended_cleanly = True  # the database is closed: the console entry may skip the teardown
    damaged = [s for s in summary.sources if s.error]
    if not quiet:
        _print_summary(summary, db)
    if damaged:
        raise UserError(f"{len(damaged)} source(s) were damaged; kept what was readable: " + "; ".join(f"{s.path}: {s.error}" for s in damaged))


def _print_summary(summary, db: str) -> None:
    t = summary.totals()
    for s in summary.sources:
        extra = f"  ({s.error})" if s.error else ""
        if s.undecodable:
            extra += f"  ({s.undecodable:,} lines are not UTF-8; if the file is latin-1 or cp1252, re-run with --encoding)"
        click.echo(f"{s.action:<10} {s.format or '-':<16} {s.lines:>10,} lines {s.events:>8,} events {s.rejected:>6,} rejected  {s.path}{extra}", err=True)
    from .parsers import native

    slow = [s for s in summary.sources if s.format in native.ENVELOPE_CODES and s.action not in ("unchanged", "renamed", "same-as")]
    if slow and native.missing_reason():
        click.echo(f"note: {native.missing_reason()}; line-envelope files went through the slower polars path "
                   "(reinstall with a C compiler present: pip install --force-reinstall --no-deps .)", err=True)
    if summary.skipped:
        click.echo(f"skipped {len(summary.skipped)} non-log file(s) in directories (docs, runtime metadata): " + ", ".join(summary.skipped[:5]) + (" ..." if len(summary.skipped) > 5 else ""), err=True)
    rate = summary.bytes / summary.seconds / 1e6 if summary.seconds else 0
    click.echo(
        f"{t['sources']} sources ({t['unchanged']} unchanged), {t['lines']:,} lines, {t['events']:,} events, "
        f"{t['rejected']:,} rejected in {summary.seconds:.1f}s ({rate:,.0f} MB/s) -> {db}",
        err=True,
    )


def _emit(cols: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([dict(zip(cols, r, strict=True)) for r in rows], default=str, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        text_rows = [["" if v is None else str(v) for v in r] for r in rows]
        widths = [min(max([len(c)] + [len(r[i]) for r in text_rows]), 80) for i, c in enumerate(cols)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        click.echo("  ".join("-" * w for w in widths))
        for r in text_rows:
            click.echo("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)))
        click.echo(f"({len(rows)} rows)", err=True)


@main.command()
@click.argument("query")
@db_option
@format_option()
def sql(query, db, wait, fmt):
    """Run an ad-hoc SQL query against the database (tables: sources, events, rejects, line_index, lines).

    \b
    Example:
      pmortem sql "SELECT pod, count(*) FROM events WHERE kind = 'worker_exit' GROUP BY ALL"
      pmortem sql "SELECT * FROM rejects LIMIT 20" --format csv
    """
    import duckdb

    con = open_existing(db, wait=wait)
    try:
        cur = con.execute(query)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if cols else []
    except duckdb.Error as exc:
        raise UserError(f"SQL failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    _emit(cols, rows, fmt)


SOURCE_COLUMNS = [
    "source_id", "path", "format", "service", "namespace", "pod", "container", "host", "lines", "lines_parsed",
    "lines_rejected", "lines_folded", "lines_generic", "lines_duplicate", "events", "first_ts", "last_ts", "status", "error",
    "fingerprint", "entity_source",
]


@main.command()
@db_option
@format_option()
def sources(db, wait, fmt):
    """List ingested sources: format, entities, time span, and the line accounting.

    Every line is either parsed or rejected: lines = lines_parsed + lines_rejected.
    lines_overlap: lines another source also holds (same pod, container, level and minute;
    queries/source_overlap.sql); lines_duplicate: lines of events another source already
    had, stored once.

    \b
    Example:
      pmortem sources
      pmortem sources --format json | jq '.[] | select(.lines_rejected > 0)'
    """
    from .analyzer.sqlrun import load_sql

    con = open_existing(db, wait=wait)
    try:
        cur = con.execute(f"SELECT {', '.join(SOURCE_COLUMNS)} FROM sources ORDER BY source_id")
        rows = cur.fetchall()
        overlap = dict(con.execute(load_sql("source_overlap")).fetchall())
    finally:
        con.close()
    cols_all = [*SOURCE_COLUMNS, "lines_overlap"]
    rows = [(*r, overlap.get(r[0], 0)) for r in rows]
    if fmt == "table":
        cols = ["source_id", "format", "pod", "lines", "lines_parsed", "lines_rejected", "lines_overlap", "events", "first_ts", "last_ts", "status", "path"]
        idx = [cols_all.index(c) for c in cols]
        _emit(cols, [tuple(r[i] for i in idx) for r in rows], fmt)
    else:
        _emit(cols_all, rows, fmt)


def _parse_time(value: str | None, name: str):
    if value is None:
        return None
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{name} {value!r} is not a time; use ISO 8601, e.g. 2022-04-08T20:50:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@main.command()
@db_option
@click.option("--since", help="Window start (ISO 8601, UTC unless it says otherwise). Default: found from the data.")
@click.option("--until", help="Window end (ISO 8601). Default: found from the data.")
@click.option("--service", help="Only this service (pod name prefix or service name).")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write the report to FILE (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True, help="Markdown or JSON.")
@click.option("--tolerance", "tolerance_s", type=float, default=2.0, show_default=True, help="Seconds within which two events count as one (paired errors, deaths).")
@click.option("--config", "config_path", help="Config file with [[redact]] rules (default: ./pmortem.toml when present).")
def report(db, wait, since, until, service, out, fmt, tolerance_s, config_path):
    """Write the postmortem: trigger, mechanism, symptoms, evidence and the SQL behind every number.

    Exit code 0 whether or not an incident is found; read `incident` in the JSON.

    \b
    Example:
      pmortem report --out postmortem.md
      pmortem report --format json --out report.json
      pmortem report --since 2022-04-08T20:50:00Z --until 2022-04-08T21:10:00Z --service campaign
    """
    from .analyzer.redact import load_redactor
    from .analyzer.render import render_json, render_markdown
    from .analyzer.report import Options, build_report

    t0, t1 = _parse_time(since, "--since"), _parse_time(until, "--until")
    if t0 and t1 and t0 >= t1:
        raise UserError("--since must be before --until")
    redact = load_redactor(config_path)
    opts = Options(since=t0, until=t1, service=service, tolerance_s=tolerance_s, peers=_peers(config_path),
                   command="pmortem " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["report"] else "pmortem report")
    con = open_existing(db, wait=wait)
    try:
        rep = build_report(con, opts, redact)
    finally:
        con.close()
    text = render_json(rep) if fmt == "json" else render_markdown(rep, redact)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {out} ({'incident' if rep['incident'] else 'no incident'}, {len(rep['findings'])} findings)", err=True)
    else:
        click.echo(text, nl=False)



SEVERITY_RANK = {"info": 0, "warning": 1, "incident": 2}


def _peers(config_path: str | None) -> dict:
    """[peers] of the config file: address (host or host:port) -> service name."""
    from .parsers.catalogue import CatalogueError, load_config

    try:
        cfg, path = load_config(config_path)
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    peers = cfg.get("peers", {})
    if not isinstance(peers, dict):
        raise UserError(f"{path}: [peers] must be a table of address = \"service\" entries")
    return peers


@main.command()
@click.argument("paths", nargs=-1)
@db_option
@click.option("--fail-on", type=click.Choice(list(SEVERITY_RANK)), default="warning", show_default=True, help="Exit 1 when a finding is at or above this severity.")
@click.option("--last", "last", default=None, help="Only look at the most recent span of log time, e.g. 1h, 30m, 2d (default: everything).")
@click.option("--since", help="Window start (ISO 8601, UTC if no zone).")
@click.option("--until", help="Window end (ISO 8601, UTC if no zone).")
@click.option("--input-format", default=None, help="Force the input format of PATHS (see `pmortem ingest --help`).")
@click.option("--config", "config_path", help="Config file (patterns, labels, redaction).")
@format_option(("text", "json"), default="text")
def scan(paths, db, wait, fail_on, last, since, until, input_format, config_path, fmt):
    """Unattended check for cron/CI: ingest PATHS (if any), analyse, list findings.

    Exit code 0: nothing at or above --fail-on; 1: findings at or above it; 2: a problem to fix.

    \b
    Example:
      pmortem scan /var/log/pods --last 1h --fail-on warning
      pmortem scan --db nightly.duckdb --format json > findings.json
    """
    from .analyzer.redact import load_redactor
    from .analyzer.report import Options, build_report
    from .ingest import IngestOptions
    from .ingest import ingest as run_ingest

    if paths:
        summary = run_ingest(list(paths), db, IngestOptions(input_format=input_format, wait=wait, config_path=config_path), progress=False)
        damaged = [x for x in summary.sources if x.error]
        if damaged:
            click.echo(f"warning: {len(damaged)} damaged source(s): " + "; ".join(f"{x.path}: {x.error}" for x in damaged), err=True)
    t0, t1 = _parse_time(since, "--since"), _parse_time(until, "--until")
    con = open_existing(db, wait=wait)
    try:
        if last:
            m = re.fullmatch(r"(\d+)\s*([smhd])", last.strip())
            if not m:
                raise UserError(f"--last {last!r}: use a number and a unit, e.g. 30m, 1h, 2d")
            secs = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
            (latest,) = con.execute("SELECT max(ts) FROM events").fetchone()
            if latest is not None:
                t1 = t1 or latest
                t0 = t0 or (t1 - dt.timedelta(seconds=secs))
        rep = build_report(con, Options(since=t0, until=t1, command="pmortem scan", peers=_peers(config_path)), load_redactor(config_path))
    finally:
        con.close()
    hits = [f for f in rep["findings"] if SEVERITY_RANK.get(f["severity"], 0) >= SEVERITY_RANK[fail_on]]
    if fmt == "json":
        click.echo(json.dumps({"fail_on": fail_on, "window": rep["window"], "findings": rep["findings"], "failed": bool(hits)}, indent=2, default=str))
    else:
        for f in rep["findings"]:
            mark = "!" if f in hits else " "
            click.echo(f"{mark} {f['severity']:<8} {f['confidence']:.2f}  {f['rule']:<28} {f.get('title') or ''}")
        click.echo(f"{len(rep['findings'])} findings, {len(hits)} at or above {fail_on}", err=True)
    if hits:
        sys.exit(1)


_ended_cleanly = False


def run() -> None:
    """The console entry (`pmortem`, `python -m pmortem.cli`). After an ingest, which closes
    its database and writes nothing else, the process exits without the interpreter's
    teardown of polars, DuckDB and every module: about 40 ms of each run (atexit handlers
    still run, and stdout and stderr are flushed). Other commands exit the usual way."""
    try:
        main(prog_name="pmortem")
    except SystemExit as exc:
        if not _ended_cleanly:
            raise
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    else:
        if not _ended_cleanly:
            return
        code = 0
    import atexit
    import os

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())

from .cli_templates import templates_command  # noqa: E402

main.add_command(templates_command)
