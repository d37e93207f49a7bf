"""The driver of `pmortem ingest --engine spark`: plan, run the Spark job, store, export."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ..chunks import ChunkSource
from ..errors import UserError
from ..fingerprint import fingerprint, hash_range
from ..parsers.detect import DOCUMENT_FORMATS
from ..parsers.events import SourceContext
from ..parsers.readers import LimitExceeded, can_pread, is_uri
from ..remote import FORWARD_ENV, getmtime
from ..remote import quiet_stderr as _quiet_stderr
from . import DEFAULT_SPLIT_BYTES, OUT_SCHEMA_DDL

TASK_DDL = "task int, path string, fmt string, size long, start long, end long, last boolean, payload binary"


def _abspath(p: str) -> str:
    """The path a task opens: absolute (its working directory is not the driver's); a URI as given."""
    return p if is_uri(p) else os.path.abspath(p)


def local_path(p: str) -> str:
    """file:///x and file:/x as /x; other paths as given."""
    if p.startswith("file://"):
        return p[len("file://"):] or "/"
    if p.startswith("file:/"):
        return p[len("file:"):]
    return p


def ingest_spark(paths, out_dir, opts=None, *, master=None, split_bytes=None, progress=None):
    from ..ingest import IngestOptions, _ingest, _quiet_gc
    from .dataset import export, read_manifest, seed

    opts = opts or IngestOptions()
    paths = [os.fspath(p) for p in paths]
    if "-" in paths:
        raise UserError("--engine spark reads files, not standard input; use the local engine for -")
    paths = [local_path(p) for p in paths]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out_dir} is a file; pass a directory for the Parquet dataset")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    work = out / f".pmortem-work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    engine = SparkEngine(opts, master=master, split_bytes=split_bytes or DEFAULT_SPLIT_BYTES, work=work,
                         progress=progress)
    try:
        db = str(work / "ingest.duckdb")
        manifest = read_manifest(out)
        if manifest is not None:
            seed(db, out)
        with _quiet_gc():
            summary = _ingest(paths, db, opts, progress, engine=engine)
        t0 = time.monotonic()
        if manifest is None or any(s.action not in ("unchanged", "same-as") for s in summary.sources):
            export(db, out, work)
        summary.seconds += time.monotonic() - t0
        summary.spark = engine.info
    finally:
        engine.close()
        shutil.rmtree(work, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()  # a run that failed leaves no empty directory behind
    return summary


class SparkEngine:
    """The hook `ingest._ingest` calls: `prepare` parses on Spark every source that may need it,
    `chunk_source` hands a source's parsed steps to the local store loop."""

    def __init__(self, opts, *, master, split_bytes, work: Path, progress=None):
        from ..ingest import config_limits
        from ..parsers.catalogue import CatalogueError, load_catalogue, load_config
        from ..parsers.entities import config_labels, flag_labels

        self.opts = opts
        self.master = master
        self.split_bytes = max(int(split_bytes), 1)
        self.work = work
        self.progress = progress
        try:
            config, cfg_path = load_config(opts.config_path)
            self.cat = load_catalogue(config, config_path=cfg_path or "pmortem.toml")
        except CatalogueError as exc:
            raise UserError(str(exc)) from None
        self.limits = config_limits(config, cfg_path or "pmortem.toml")
        self.cfg_labels = config_labels(config)
        self.flags = flag_labels(opts.labels)
        self.tasks: dict[str, list[int]] = {}  # path -> its tasks, in file order
        self.records: dict[int, list[Path]] = {}  # task -> its spilled records, in order
        self.spark = None
        self._own_session = False
        # the Spark job: its master, tasks, files, wall seconds, and the tasks' own seconds (wall, CPU)
        self.info = {"master": None, "tasks": 0, "files": 0, "seconds": 0.0, "task_s": 0.0, "task_cpu_s": 0.0}

    # ------------------------------------------------------------ planning
    def _unchanged(self, con, path: str, size: int) -> bool:
        """Known as it is (nothing to parse), or grown since (an append: its new bytes are parsed
        on the driver by the local chunk source, see `chunk_source`)."""
        head, tail, _ = fingerprint(path, size)
        if con.execute(
            "SELECT count(*) FROM sources WHERE head_hash = ? AND tail_hash = ? AND size = ? AND status IN ('complete', 'damaged')",
            [head, tail, size],
        ).fetchone()[0]:
            return True
        row = con.execute(
            "SELECT size, head_len, head_hash FROM sources WHERE abspath = ? AND status = 'complete' AND compression IS NULL",
            [_abspath(path) if is_uri(path) else str(Path(path).resolve())],
        ).fetchone()
        return bool(row and row[0] < size and hash_range(path, 0, row[1]) == row[2])

    def plan(self, files, formats, sizes, con=None) -> list[dict]:
        from ..parsers.entities import source_labels

        rows, tid = [], 0
        for f in files:
            if con is not None and self._unchanged(con, f, sizes[f]):
                continue
            fmt = formats[f]
            ctx = SourceContext(
                source_id=0, envelope=fmt, catalogue=self.cat, tz=self.opts.tz,
                labels=source_labels(f, self.cfg_labels, self.flags), store_lines=self.opts.store_lines,
                reference_time=getmtime(f) if is_uri(f) else datetime.fromtimestamp(os.path.getmtime(f), UTC),
            )
            payload = pickle.dumps({"ctx": ctx, "opts": self.opts, "limits": self.limits})
            size = sizes[f]
            # (absolute: a task's working directory is not the driver's)
            base = {"path": _abspath(f), "fmt": fmt, "size": size, "payload": payload}
            self.tasks[f] = []
            if fmt not in DOCUMENT_FORMATS and size > self.split_bytes and can_pread(f, self.opts.encoding):
                bounds = list(range(0, size, self.split_bytes))
                for i, b in enumerate(bounds):
                    last = i == len(bounds) - 1
                    rows.append({**base, "task": tid, "start": b, "end": size if last else bounds[i + 1], "last": last})
                    self.tasks[f].append(tid)
                    tid += 1
            else:
                rows.append({**base, "task": tid, "start": -1, "end": size, "last": True})
                self.tasks[f].append(tid)
                tid += 1
        return rows

    def prepare(self, con, files, formats, sizes) -> None:
        rows = self.plan(files, formats, sizes, con)
        if not rows:
            return
        t0 = time.monotonic()
        spark = self._session()
        staging = self.work / "staging"
        df = spark.createDataFrame(spark.sparkContext.parallelize([_row(r) for r in rows], len(rows)), TASK_DDL)
        from .tasks import run_tasks

        added = _forward_env(spark, rows)
        try:
            df.mapInArrow(run_tasks, OUT_SCHEMA_DDL).write.mode("overwrite").parquet(staging.resolve().as_uri())
        except Exception as exc:  # noqa: BLE001 - a failed Spark job: its first line, not the JVM's trace
            raise UserError(f"the Spark job failed: {_first_line(exc)}") from None
        finally:
            for k in added:
                spark.sparkContext.environment.pop(k, None)
        self._spill(staging)
        self.info.update(master=spark.sparkContext.master, tasks=len(rows), files=len(self.tasks),
                         seconds=time.monotonic() - t0)
        if self.progress is not False and sys.stderr.isatty():
            print(f"spark {self.info['master']}: {len(rows)} task(s) over {len(self.tasks)} file(s) in "
                  f"{self.info['seconds']:.1f}s", file=sys.stderr)

    def _spill(self, staging: Path) -> None:
        """Each record into a file of its own (read back one at a time: bounded memory)."""
        import pyarrow.parquet as pq

        spill = self.work / "records"
        spill.mkdir(exist_ok=True)
        found: dict[int, dict[int, Path]] = {}
        for part in sorted(staging.glob("*.parquet")):
            pf = pq.ParquetFile(part)
            for batch in pf.iter_batches(batch_size=16):
                for task, seq, rec in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                    p = spill / f"{task}-{seq}.pkl"
                    p.write_bytes(rec)
                    if len(rec) < 4096:  # (an end record: the task's times)
                        kind, val = pickle.loads(rec)
                        if kind == "end":
                            self.info["task_s"] += val.get("seconds") or 0.0
                            self.info["task_cpu_s"] += val.get("cpu") or 0.0
                    found.setdefault(task, {})[seq] = p
        shutil.rmtree(staging, ignore_errors=True)
        for task, recs in found.items():
            self.records[task] = [recs[i] for i in sorted(recs)]

    # ------------------------------------------------------------ handing over
    def chunk_source(self, path, fmt, ctx, opts, size, skip_bytes, first_line, state) -> ChunkSource:
        from ..ingest import _chunk_source

        if skip_bytes or path not in self.tasks:
            # an append or a resumed source: its new bytes are parsed here, as the local engine does
            return _chunk_source(path, fmt, ctx, opts, size, skip_bytes, first_line, state)
        return ParsedSource(path, ctx, [self.records.get(t, []) for t in self.tasks[path]], size=size, state=state)

    # ------------------------------------------------------------ Spark
    def _session(self):
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise UserError("--engine spark needs pyspark: pip install 'pmortem[spark]'") from None
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        active = SparkSession.getActiveSession()
        if active is not None:
            self.spark = active
            return active
        builder = SparkSession.builder.appName("pmortem ingest")
        if self.master:
            builder = builder.master(self.master)
        builder = (builder.config("spark.ui.enabled", "false")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.python.worker.reuse", "true")
                   .config("spark.ui.showConsoleProgress", "false"))
        said: list[str] = []
        try:
            with _quiet_stderr(said):
                self.spark = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - no Java, a bad master URL: one sentence
            msg = _first_line(exc)
            cause = next((ln.strip() for ln in said if "Exception:" in ln or "Error:" in ln), None)
            if not _java_found():
                msg = "it needs a Java runtime (17 or later) on PATH or in JAVA_HOME"
            elif cause:
                msg = cause[:300]
            raise UserError(f"cannot start Spark (master {self.master or 'default'}): {msg}") from None
        self.spark.sparkContext.setLogLevel("ERROR")
        self._own_session = True
        return self.spark

    def close(self) -> None:
        if self.spark is not None and self._own_session:
            with contextlib.suppress(Exception):
                self.spark.stop()
        self.spark = None


class ParsedSource(ChunkSource):
    """A source parsed on Spark: its tasks' steps, in file order, line numbers made absolute
    (a range counts its lines from 1; the lines of the ranges before it are added)."""

    rolled_up = True  # requests were rolled up in the task (ingest._store does not again)

    def __init__(self, path, ctx, tasks: list[list[Path]], **kw):
        super().__init__(path, ctx, **kw)
        self.task_records = tasks

    def _as_given(self, msg: str) -> str:
        """A task's message names the file by its absolute path: by the path as given, as locally."""
        from ..parsers.readers import display_path

        return msg.replace(display_path(_abspath(self.path)), display_path(self.path))

    def __iter__(self):
        shift = 0
        for recs in self.task_records:
            lines = 0
            for rp in recs:
                kind, val = pickle.loads(rp.read_bytes())
                if kind == "step":
                    lines = val.lines_done  # (the range's own count, before the shift)
                    st = _shifted(val, shift) if shift else val
                    self.pos = max(self.pos, st.bytes_done)
                    yield st
                elif kind == "limit":
                    raise LimitExceeded(self._as_given(val))
                elif kind == "end":
                    if val.get("error"):
                        self.state.error = self._as_given(val["error"])
                    self.pos = max(self.pos, val.get("pos") or 0)
                    self.state.bytes_read = max(self.state.bytes_read or 0, val.get("bytes_read") or 0)
            shift += lines


def _shifted(st, n: int):
    """A step of a range whose lines count from 1, moved down by the `n` lines before the range."""
    import polars as pl

    res = st.res

    def add(df, *cols):
        if df is None or df.height == 0:
            return df
        return df.with_columns([pl.col(c) + n for c in cols])

    res.events = add(res.events, "line_no")
    res.rejects = add(res.rejects, "line_no")
    res.index = add(res.index, "first_line", "last_line")
    res.requests = add(res.requests, "first_line", "last_line")
    res.lines = add(res.lines, "line_no")
    if res.tail_line is not None:
        res.tail_line += n
    st.line += n
    st.lines_done += n
    if st.tail_at is not None:
        st.tail_at = (st.tail_at[0], st.tail_at[1] + n)
    return st


def _forward_env(spark, rows) -> list[str]:
    """With object-store or HDFS inputs, the driver's store settings (endpoint, region,
    credentials: remote.FORWARD_ENV) go to the tasks' Python workers, which read the same
    objects: they become the job's worker environment (as spark.executorEnv.* would; a variable
    already set there is left alone). Returns the names added (removed again after the job)."""
    if not any(is_uri(r["path"]) for r in rows):
        return []
    env = spark.sparkContext.environment
    added = [k for k in FORWARD_ENV if os.environ.get(k) and k not in env]
    for k in added:
        env[k] = os.environ[k]
    return added


def _row(r: dict) -> tuple:
    return tuple(r[k] for k in ("task", "path", "fmt", "size", "start", "end", "last", "payload"))


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one line: the Python error a task raised when there is one (its
    last `XxxError: ...` line), else the first line of the message."""
    import re

    text = str(exc).strip()
    raised = re.findall(r"^(\w+(?:Error|Exception): .*)$", text, re.M)
    if raised:
        return raised[-1][:300]
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "at ", "File ")):
            return line[:300]
    return type(exc).__name__


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.access(os.path.join(home, "bin", "java"), os.X_OK)
    return shutil.which("java") is not None
