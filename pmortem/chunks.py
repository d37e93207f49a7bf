"""Chunk sources: the ways a source is read and parsed, behind one interface.

Each yields `Step`s in file order: a parsed chunk (or several, built together) with where
it started and the resume point after it; `ingest` commits each step in one transaction,
counts it and reports progress, whatever the source. The four ways:

- `DocumentSource`: JSON documents, parsed incrementally (a batch of records per step);
- `PipelinedSource`: a plain file on the native scanner: a scan thread reads (pread) and
  scans chunks ahead while the caller's thread builds events (and `ingest`'s writer thread
  stores the previous step's);
- `PreadSource`: a plain file read in place (pread into a reused buffer), chunk by chunk;
- `StreamedSource`: anything else (compressed, transcoded, stdin): line-aligned chunks of
  the decompressed stream (`readers.iter_chunks`), an unfinished last event carried over.

A chunk's last event may go on in the next chunk: the parser leaves it as a tail
(`ChunkResult.tail_offset`), read again with what follows. The file's last event is
read as a chunk of its own, "the open tail": an append takes it back (store.reopen_tail).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .parsers import native
from .parsers.events import ChunkResult, SourceContext
from .parsers.pipeline import parse_chunk
from .parsers.readers import (
    CHUNK_BYTES,
    Chunk,
    LimitExceeded,
    PlainReader,
    ReadState,
    _decode_errors,
    current_limits,
    display_path,
    iter_chunks,
    raw_position,
    raw_stream,
)

# prepared chunks the scan thread may be ahead by; and the most the event builder takes at once
PIPELINE_DEPTH = 3
MAX_BATCH = 4
MIN_BATCH = 2  # chunks per build once started, when light (under TARGET_ROWS * 3 // 4 rows)
# kept rows (lines of events) per chunk the reader aims at: an event-dense file (a crash
# loop logging an error per line) gets smaller chunks, so memory stays bounded
TARGET_ROWS = 32_000
FIRST_CHUNK = 16 << 20  # the first chunk, before the density is known
MIN_CHUNK = 1 << 20


@dataclass
class Step:
    """One commit's worth: a parsed chunk (or consecutive chunks built together)."""

    res: ChunkResult
    offset: int  # where it starts: decompressed byte offset, line number
    line: int
    bytes_done: int  # the resume point after it
    lines_done: int
    advance: int  # input bytes it moves the progress line by
    tail_at: tuple[int, int] | None = None  # (offset, line) when it is the file's open tail


class ChunkSource:
    """A source read from a resume point (`start` bytes, line `first_line`), as Steps.

    `pos`: how far the progress line has been moved (input bytes), so the caller can
    account for the rest (`size - pos`) once the iteration ends. `state` carries what the reader met
    (a damaged compressed stream)."""

    def __init__(self, path: str, ctx: SourceContext, *, size: int = 0, start: int = 0, first_line: int = 1,
                 chunk_bytes: int = 0, encoding: str | None = None, state: ReadState | None = None):
        self.path = path
        self.size = size  # on disk (0 for stdin): what the progress line counts
        self.ctx = ctx
        self.start = start
        self.first_line = first_line
        self.chunk_bytes = chunk_bytes
        self.encoding = encoding
        self.state = state if state is not None else ReadState()
        self.pos = start

    def __iter__(self) -> Iterator[Step]:
        raise NotImplementedError


class DocumentSource(ChunkSource):
    """JSON documents, always from the start (a document cannot be resumed half-way).

    A whole document (maybe pretty-printed, maybe one huge line) is parsed incrementally
    (`stream_document`): a step per batch of records, memory bounded by a batch, whatever
    the file's size; the line count comes with the last step. One document per line: chunks
    of whole lines (each line up to [limits] max_line_bytes)."""

    def __init__(self, path: str, ctx: SourceContext, fmt: str, **kw):
        super().__init__(path, ctx, **kw)
        self.fmt = fmt

    def __iter__(self) -> Iterator[Step]:
        # (imported here: a plain file's ingest never needs it, about 20 ms of start-up)
        from .parsers.documents.chunk import document_lines_result, stream_document

        limits = current_limits()
        if self.fmt == "document_lines":
            for ch in iter_chunks(self.path, state=self.state, encoding=self.encoding,
                                  chunk_bytes=self.chunk_bytes or CHUNK_BYTES, max_line=limits.max_line_bytes):
                res = document_lines_result(ch.data, self.ctx, ch.first_line, ch.offset, limits.max_line_bytes)
                if ch.span is not None:  # an over-long record: rejected, only its head was held
                    res = _over_long(res, ch, limits.max_line_bytes)
                raw = min(self.size, self.state.raw_pos) if self.size else 0
                advance, self.pos = max(raw - self.pos, 0), max(raw, self.pos)
                yield Step(res, ch.offset, ch.first_line, self.state.bytes_read, ch.first_line - 1 + res.n_lines, advance)
            return
        fh = raw_stream(self.path, self.encoding)
        try:
            for res, done in stream_document(fh, self.ctx, display_path(self.path), limits.max_document_bytes):
                raw = min(self.size, raw_position(fh)) if self.size else 0
                advance, self.pos = max(raw - self.pos, 0), max(raw, self.pos)
                if done is False:
                    # a batch of records: no resume point yet (bytes_done 0: started again if cut)
                    yield Step(res, 0, 1, 0, 0, advance)
                else:
                    if isinstance(done, str):
                        self.state.error = done
                    self.state.bytes_read = _consumed(fh)
                    yield Step(res, 0, 1, self.state.bytes_read, res.n_lines, advance)
        except _decode_errors() as exc:
            raise LimitExceeded(f"{display_path(self.path)}: compressed stream damaged inside a JSON document ({type(exc).__name__}: {exc})") from None
        finally:
            fh.close()


def _consumed(fh) -> int:
    return getattr(fh, "_out_total", 0) or raw_position(fh)


def _over_long(res, ch: Chunk, limit: int):
    """The one line of `ch` (its head only) rejected as over the record limit."""
    import polars as pl

    from .parsers.events import REJECT_SCHEMA

    reason = f"line too long (over {limit} bytes, [limits] max_line_bytes)"
    rej = pl.DataFrame([(ch.first_line, ch.offset, reason, ch.data[:200].decode("utf-8", "replace"))],
                       schema=REJECT_SCHEMA, orient="row")
    res.events = res.events.clear()
    res.index = res.index.clear()
    res.rejects, res.n_lines, res.n_rejected, res.n_folded = rej, 1, 1, 0
    return res


class _ChunkSizer:
    """Bytes to read next: FIRST_CHUNK, then as many as should hold about TARGET_ROWS kept
    rows at the density seen so far (growing at most 4x per chunk), within [MIN_CHUNK, full]."""

    def __init__(self, full: int, first: int | None = None):
        self.full = full
        self.limit = min(FIRST_CHUNK if first is None else first, full)

    def seen(self, nbytes: int, rows: int) -> None:
        if nbytes <= 0:
            return
        fit = nbytes * TARGET_ROWS // max(rows, 1)
        self.limit = max(MIN_CHUNK, min(self.full, fit, self.limit * 4))


class PreadSource(ChunkSource):
    """A plain file read in place: a chunk's unfinished last event is read again with the next chunk.

    `end` (None: the file's end) stops the read there: the Spark engine reads a byte range of a
    file this way, its end a cut (pmortem/spark/tasks.py `find_cut`) parsed as final, nothing left
    over, unless the range is the file's `last` (its open tail then a chunk of its own, as here)."""

    end: int | None = None
    last: bool = True

    def __iter__(self) -> Iterator[Step]:
        off, line = self.start, self.first_line
        in_tail = False  # reading the file's open tail: its last event, stored on its own
        sizer = _ChunkSizer(self.chunk_bytes)
        stop = self.end
        with PlainReader(self.path, self.chunk_bytes) as reader:
            while stop is None or off < stop:
                view, end, eof = reader.read_at(off, 0, sizer.limit if stop is None else min(sizer.limit, stop - off))
                if view is None:
                    break
                if stop is not None and end >= stop:
                    # the range's end is a line start: cut there even when a longer read went past it
                    if end > stop:
                        view = view[: stop - off]
                    end, eof = stop, True
                res = parse_chunk(Chunk(view, line, off), self.ctx, final=eof and (in_tail or not self.last))
                if res.tail_offset is not None:
                    bytes_done, lines_done = res.tail_offset, res.tail_line - 1
                else:
                    bytes_done, lines_done = end, line - 1 + res.n_lines
                # the open tail: read as a chunk of its own, or a last chunk that could not be cut
                # (its one event starts at its first line): either way an append may continue it
                open_tail = self.last and eof and (in_tail or res.tail_offset is None)
                self.pos = max(bytes_done, off)
                yield Step(res, off, line, bytes_done, lines_done, max(bytes_done - off, 0),
                           (off, line) if open_tail else None)
                in_tail = eof and res.tail_offset is not None
                sizer.seen(bytes_done - off, res.n_events + res.n_folded)
                off, line = bytes_done, lines_done + 1
                self.pos = off
                if eof and res.tail_offset is None:
                    break
        self.state.bytes_read = off


class StreamedSource(ChunkSource):
    """Line-aligned chunks of the decompressed (or transcoded, or piped) input; the last
    event of each is carried over to the next. Progress follows the position on disk."""

    def __iter__(self) -> Iterator[Step]:
        ctx, state = self.ctx, self.state
        pending = b""
        pend_line, pend_off = self.first_line, self.start
        self.pos = 0  # the raw (compressed) position

        def flush() -> Step:
            nonlocal pending
            res = parse_chunk(Chunk(pending, pend_line, pend_off), ctx, final=True)
            step = Step(res, pend_off, pend_line, pend_off + len(pending), pend_line - 1 + res.n_lines, 0)
            pending = b""
            return step

        for ch in iter_chunks(self.path, skip_bytes=self.start, first_line=self.first_line, chunk_bytes=self.chunk_bytes,
                              state=state, encoding=self.encoding):
            if ch.span is not None:
                # an over-long line handed over alone (its head only): what came before is done
                if pending:
                    yield flush()
                res = parse_chunk(ch, ctx, final=True)
                bytes_done, lines_done = ch.offset + ch.span, ch.first_line - 1 + res.n_lines
                pend_line, pend_off = lines_done + 1, bytes_done
                start = (ch.offset, ch.first_line)
            else:
                data = pending + ch.data if pending else ch.data
                chunk = Chunk(data, pend_line if pending else ch.first_line, pend_off if pending else ch.offset)
                res = parse_chunk(chunk, ctx, final=False)
                if res.tail_offset is not None:
                    cut = res.tail_offset - chunk.offset
                    pending = data[cut:]
                    pend_line, pend_off = res.tail_line, res.tail_offset
                    bytes_done, lines_done = res.tail_offset, res.tail_line - 1
                else:
                    pending = b""
                    bytes_done = chunk.offset + len(data)
                    lines_done = chunk.first_line - 1 + res.n_lines
                    pend_line, pend_off = lines_done + 1, bytes_done
                start = (chunk.offset, chunk.first_line)
            raw_pos = min(self.size, state.raw_pos)
            advance = max(raw_pos - self.pos, 0)
            self.pos = max(raw_pos, self.pos)
            yield Step(res, *start, bytes_done, lines_done, advance)
        if pending:
            yield flush()


class PipelinedSource(ChunkSource):
    """Plain file, native scanner: a scan thread reads and scans chunks ahead (the C
    literal search and scanner run without the GIL) while the consuming thread builds events
    (`native.finish_chunks`) and stores them.

    One read buffer: a prepared chunk holds only its kept rows (copied out of the buffer), so
    the scan thread can be up to PIPELINE_DEPTH chunks ahead reading into the same buffer; its
    pages past the chunk size in use are given back (`_trim`) when chunks get smaller. When the builder has fallen behind, it takes every
    chunk that is ready (up to MAX_BATCH) in one go: one event build and one step for
    them, fewer fixed costs per chunk exactly when this thread is the slower one. Steps
    stay in file order, each with its resume point."""

    def __iter__(self) -> Iterator[Step]:
        import queue
        import threading

        ctx, full = self.ctx, self.chunk_bytes
        q: queue.Queue = queue.Queue(PIPELINE_DEPTH)
        stop = threading.Event()
        DONE = object()
        # the C scan of a chunk on two threads (halves of its lines) when there are two cores: the
        # builder's core waits for the first chunk, and for the scan whenever it has caught up
        split = (os.cpu_count() or 1) > 1

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def scan_thread(reader: PlainReader, off: int, line: int) -> None:
            in_tail = False
            resident = reader.capacity  # the buffer's bytes that may hold pages
            # full chunks from the start: a chunk that turns out far denser than TARGET_ROWS is
            # cut shorter and scanned again (the scan is the cheap part; its events are not)
            sizer = _ChunkSizer(full, first=full)
            try:
                while not stop.is_set():
                    view, end, eof = reader.read_at(off, 0, sizer.limit)
                    if view is None:
                        break
                    resident = max(resident, len(view))
                    # the file's last event is left as a tail and read again as a chunk of its
                    # own (the open tail: an append takes it back, see store.reopen_tail)
                    prep = native.prepare_chunk(Chunk(view, line, off), ctx, final=eof and in_tail, split=split)
                    rows = prep.kept_rows
                    if rows > 2 * TARGET_ROWS and not (eof and in_tail) and len(view) > MIN_CHUNK and view.obj is reader.bufs[0]:
                        keep = max(MIN_CHUNK, len(view) * TARGET_ROWS // rows)
                        nl = reader.bufs[0].rfind(b"\n", 0, keep)
                        if nl > 0:
                            view, end, eof = view[: nl + 1], off + nl + 1, False
                            prep = native.prepare_chunk(Chunk(view, line, off), ctx, final=False, split=split)
                    prep.release()
                    # its frames (polars, mostly without the GIL) here when the builder is
                    # behind (a chunk still waits for it: request-heavy logs), else by the
                    # builder (the scan is the slower side: logs of few requests)
                    if q.qsize() > 0:
                        prep.frames()
                    nxt = prep.tail if prep.tail is not None else (end, line + prep.a["cut"])
                    sizer.seen(nxt[0] - off, prep.kept_rows)
                    # the open tail: read as a chunk of its own, or a last chunk that could not be
                    # cut (its one event starts at its first line): an append may continue either
                    if not put(_Scanned(prep, off, line, nxt, eof and (in_tail or prep.tail is None))):
                        return
                    if eof and prep.tail is None:
                        break
                    in_tail = eof
                    off, line = nxt
                    resident = _trim(reader, resident, sizer.limit)
                put(DONE)
            except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which raises it
                put(exc)

        with PlainReader(self.path, full) as reader:
            worker = threading.Thread(target=scan_thread, args=(reader, self.start, self.first_line), name="pmortem-scan", daemon=True)
            worker.start()
            held = None  # an item taken from the queue but left for the next batch
            built = False  # the first chunk goes alone: the builder starts as early as it can
            batch_rows = TARGET_ROWS * 3 // 2  # kept rows per build at most: a dense chunk goes alone
            try:
                finished = False
                while not finished:
                    item = held if held is not None else q.get()
                    held = None
                    if item is DONE:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    batch = [item]
                    rows = item.prep.kept_rows
                    # the open tail goes alone (its counts are recorded); others as many as are
                    # ready, up to MAX_BATCH chunks and batch_rows kept rows
                    while not batch[-1].is_tail and len(batch) < MAX_BATCH and rows < batch_rows:
                        try:
                            # two chunks per build at least, when they are light: each build has
                            # about 12 ms of fixed polars cost (bench/README.md)
                            wait = built and len(batch) < MIN_BATCH and rows < batch_rows // 2
                            more = q.get() if wait else q.get_nowait()
                        except queue.Empty:
                            break
                        if more is DONE:
                            finished = True
                            break
                        if isinstance(more, BaseException) or more.is_tail or rows + more.prep.kept_rows > batch_rows:
                            held = more
                            break
                        batch.append(more)
                        rows += more.prep.kept_rows
                    res = native.finish_chunks([b.prep for b in batch])
                    built = True
                    first, last = batch[0], batch[-1]
                    bytes_done, lines_done = last.nxt[0], last.nxt[1] - 1
                    self.pos = bytes_done
                    yield Step(res, first.off, first.line, bytes_done, lines_done, max(bytes_done - first.off, 0),
                               (last.off, last.line) if last.is_tail else None)
            finally:
                stop.set()
                worker.join()
        self.state.bytes_read = self.pos


def _trim(reader: PlainReader, resident: int, limit: int) -> int:
    """The read buffer's pages past what the next reads need (the chunk size `limit`, plus a
    MiB of slack) handed back to the kernel when chunks have become smaller: an event-dense
    file reads 10-20 MB chunks into a 64 MB buffer, whose first read touched all of it. A
    later, larger read faults them in again. Returns the bytes that may still hold pages."""
    buf = reader.bufs[0]
    keep = min(limit + MIN_CHUNK, reader.capacity)
    keep = -(-keep // mmap.PAGESIZE) * mmap.PAGESIZE
    if buf is None or keep >= resident - (4 << 20) or not hasattr(buf, "madvise"):
        return max(resident, keep)
    buf.madvise(mmap.MADV_DONTNEED, keep, len(buf) - keep)
    return keep


@dataclass
class _Scanned:
    prep: native.Prepared
    off: int  # where the chunk starts (byte offset, line number)
    line: int
    nxt: tuple[int, int]  # where the next one starts
    is_tail: bool  # the file's open tail, stored as a chunk of its own
