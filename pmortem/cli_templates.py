"""`pmortem templates`: the log templates of files, with counts (a thin layer over
pmortem.analyzer.templates)."""

from __future__ import annotations

import csv
import json
import sys

import click

from .errors import UserError
from .safe_text import visible


@click.command("templates")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "csv", "json")),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--per-line",
    is_flag=True,
    help="Instead of the list, one row per input line: line,template_id,template (path first when "
    "several files are given; CSV unless --format json).",
)
@click.option("--top", type=int, default=None, help="Only the N most frequent templates (the list only).")
def templates_command(paths, fmt, per_line, top):
    """List the log templates of files: which lines are the same message with different values.

    Reads the files directly (no database; plain, .gz, .zst, directories and globs; a kubectl,
    CRI, Docker or Loki envelope is removed first). Numbers, ids, addresses, paths and times are
    masked and positions that vary across lines become <*>. Stack frames and pieces of printed
    objects belong to the line above them: they count under its template, never as one of their
    own. Accuracy: bench/README.md ("Template mining").

    \b
    Example:
      pmortem templates app.log
      pmortem templates samples/backpressure --format json
      pmortem templates app.log --per-line > app.templates.csv
    """
    from .analyzer.templates import mine_files, summarize
    from .parsers.readers import InputError, expand_paths

    try:
        files = [p for p in expand_paths(list(paths)) if p != "-"]
    except InputError as exc:
        raise UserError(str(exc)) from exc
    if not files:
        raise UserError("no readable file among the paths; give log files or directories")
    try:
        df = mine_files(files)
    except OSError as exc:
        raise UserError(f"cannot read {exc.filename or 'the input'}: {exc.strerror or exc}") from exc
    if per_line:
        cols = (["path"] if len(files) > 1 else []) + ["line", "template_id", "template"]
        out = df.select(cols)
        if fmt == "json":
            click.echo(json.dumps(out.to_dicts(), indent=2))
        else:
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(cols)
            w.writerows([[visible(v) for v in r] for r in out.iter_rows()])
        return
    s = summarize(df)
    if top:
        s = s.head(top)
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "template_id": r["template_id"],
                        "count": r["count"],
                        "continuation_lines": r["continuation_lines"],
                        "template": r["template"],
                        "example": {
                            "source": r["example_path"],
                            "line": r["example_line"],
                            "text": r["example"],
                        },
                    }
                    for r in s.iter_rows(named=True)
                ],
                indent=2,
            )
        )
    elif fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(
            ["template_id", "count", "continuation_lines", "template", "example_source", "example_line"]
        )
        w.writerows(
            [visible(v) for v in r]
            for r in s.select(
                "template_id", "count", "continuation_lines", "template", "example_path", "example_line"
            ).iter_rows()
        )
    else:
        click.echo(f"{'id':>5} {'count':>9}  template")
        for r in s.iter_rows(named=True):
            click.echo(visible(f"{r['template_id']:>5} {r['count']:>9,}  {r['template'][:160]}"))
        click.echo(
            f"{s.height:,} templates, {int((~df.get_column('continuation')).sum()):,} event lines "
            f"({int(df.get_column('continuation').sum()):,} continuation lines counted with their event), "
            f"{len(files)} file(s)",
            err=True,
        )
