"""Turn paths into sources and sources into line-aligned byte chunks.

A *line* is a newline-separated line of the decompressed input. Every chunk
knows the 1-based number of its first line and the decompressed byte offset
where it starts, so any event can point back at its exact bytes.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import glob
import gzip
import io
import mmap
import os
import re
import stat
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 32 * 1024 * 1024
NATIVE_CHUNK_BYTES = 64 * 1024 * 1024  # plain files on the native scanner path
MAX_LINE_BYTES = 1024 * 1024  # a longer line is rejected as over-long (its bytes still counted)


class InputError(Exception):
    """A problem with the input the user must fix (missing path, unreadable file)."""


class LimitExceeded(Exception):
    """A source over one of the [limits] (document size, decompression ratio): refused."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one source may cost (`[limits]` in pmortem.toml; README "Limits and hostile input").

    max_document_bytes: decompressed size of one whole JSON document (format `document`);
    max_line_bytes: the longest JSON-document-per-line record (format `document_lines`) read
      whole; log lines are parsed up to MAX_LINE_BYTES (the scanner's limit) either way;
    max_ratio: decompressed / compressed bytes of a .gz/.zst once past RATIO_FLOOR decompressed
      bytes (0: no check); gzip cannot pass ~1032:1, real logs stay far below 200:1.
    """

    max_document_bytes: int = 1 << 30
    max_line_bytes: int = MAX_LINE_BYTES
    max_ratio: float = 1000.0


RATIO_FLOOR = 64 << 20  # the ratio is checked once this many bytes came out of a stream
DECODE_BUDGET = 4 << 20  # the most one decompress call may return
DEFAULT_LIMITS = Limits()
_limits: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("pmortem_limits", default=None)


def current_limits() -> Limits:
    return _limits.get() or DEFAULT_LIMITS


@contextlib.contextmanager
def limits_scope(limits: Limits):
    """Apply `limits` to every stream opened inside the block (the ingest's config)."""
    token = _limits.set(limits)
    try:
        yield limits
    finally:
        _limits.reset(token)


def _check_ratio(path: str, out_total: int, consumed: int) -> None:
    lim = current_limits()
    if lim.max_ratio and out_total > RATIO_FLOOR and out_total > lim.max_ratio * max(consumed, 1):
        raise LimitExceeded(
            f"{display_path(path)}: decompresses at over {lim.max_ratio:g}:1 ({out_total >> 20} MiB from "
            f"{max(consumed, 1) >> 10} KiB), a decompression bomb or not a log; raise [limits] max_ratio "
            "in pmortem.toml (0 turns the check off) to read it"
        )


@dataclass
class Chunk:
    data: bytes  # whole lines; the last one may lack its newline only at end of input
    first_line: int  # 1-based number of the first line in data
    offset: int  # decompressed byte offset of data[0]
    # set for an over-long line handed over alone: data is only its head, span its real length
    span: int | None = None


@dataclass
class ReadState:
    """What the reader learned while streaming: where a damaged stream broke."""

    error: str | None = None
    bytes_read: int = 0
    raw_pos: int = 0  # bytes of the file on disk consumed so far (compressed position), for progress


def compression_of(path: str) -> str | None:
    if path == "-":
        return None
    with open_regular(path) as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return None


# Files met while walking a directory that are not logs: docs and container runtime metadata.
# Named explicitly on the command line they are read like any file.
NOT_LOGS = re.compile(
    r"(?i)(?:^readme(?:\.\w+)?$|\.(?:md|rst|png|jpe?g|gif|svg|pdf|html?|duckdb|duckdb\.wal|parquet|pyc)$"
    r"|^(?:config\.v2|hostconfig)\.json$)"
)


def display_path(path: str) -> str:
    """A path as text that can be printed and stored: an undecodable (non-UTF-8) name keeps
    its raw bytes visible as \\xNN escapes."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe); pipe it to `pmortem ingest -` instead"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def why_unreadable(path: str) -> str | None:
    """Why `path` cannot be read as a log (None: it is a readable regular file).

    Only regular files are read: a FIFO would block in open(), a device (/dev/zero) never
    ends. The file is stat'ed first, then opened with O_NONBLOCK (a FIFO swapped in between
    the two cannot block the open) to learn whether it can be read at all."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename it (e.g. with convmv) to ingest it"
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            try:
                target = display_path(os.readlink(path))
            except OSError:
                target = "?"
            return f"dangling symlink (to {target})"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        return exc.strerror or str(exc)
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
        return f"not a regular file: {kind}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return "permission denied" if exc.errno in (errno.EACCES, errno.EPERM) else (exc.strerror or str(exc))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file"
    finally:
        os.close(fd)
    return None


def is_uri(path) -> bool:
    """An object-store or HDFS URI (s3://, gs://, hdfs://, abfs://: pmortem/remote.py reads it)."""
    if not isinstance(path, str) or "://" not in path[:16]:
        return False
    from ..remote import is_remote

    return is_remote(path)


def open_regular(path: str, buffering: int = -1):
    """Open a regular file for reading in binary mode, never blocking in open() (O_NONBLOCK:
    a FIFO or device put in place of a checked file is refused, not read). A URI: the object,
    file-like (pmortem/remote.py)."""
    if is_uri(path):
        from ..remote import open_file

        return open_file(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"cannot read {display_path(path)}: not a regular file")
        return open(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def expand_paths(
    paths: list[str], skipped: list[str] | None = None, refused: list[tuple[str, str]] | None = None
) -> list[str]:
    """Files, directories (recursively), globs and '-' (stdin), in a stable order.

    Documentation and runtime metadata met inside directories are listed in `skipped`.
    What cannot be read as a log (FIFOs, devices, sockets, symlink loops, dangling links,
    undecodable names, unreadable files and directories) is listed in `refused` as
    (printable path, reason) and left out; the rest goes on. Without `refused`, the first
    such entry raises InputError.
    """
    out: list[str] = []

    def refuse(path: str, reason: str) -> None:
        if refused is None:
            raise InputError(f"cannot read {display_path(path)}: {reason}")
        refused.append((display_path(path), reason))

    def walk_error(exc: OSError) -> None:
        reason = "permission denied" if exc.errno in (errno.EACCES, errno.EPERM) else (exc.strerror or str(exc))
        refuse(exc.filename or "?", f"cannot list directory: {reason}")

    for p in paths:
        if p == "-":
            out.append("-")
            continue
        if is_uri(p):
            from ..remote import expand

            out.extend(expand(p, skipped, NOT_LOGS))
            continue
        matches = sorted(glob.glob(p, recursive=True)) if glob.has_magic(p) else [p]
        if not matches:
            raise InputError(f"no file matches {p!r}; check the path or quote the glob")
        for m in matches:
            if os.path.isdir(m):
                for root, dirs, files in os.walk(m, onerror=walk_error):
                    dirs.sort()
                    for f in sorted(files):
                        if f.startswith("."):
                            continue
                        full = os.path.join(root, f)
                        if NOT_LOGS.search(f):
                            if skipped is not None:
                                skipped.append(display_path(full))
                            continue
                        why = why_unreadable(full)
                        if why:
                            refuse(full, why)
                        else:
                            out.append(full)
            elif os.path.lexists(m):
                why = why_unreadable(m)
                if why:
                    refuse(m, why)
                else:
                    out.append(m)
            else:
                raise InputError(f"no such file or directory: {display_path(m)}")
    seen: set[str] = set()
    uniq = []
    for p in out:
        key = p if p == "-" or is_uri(p) else str(Path(p).resolve())
        if key not in seen:
            seen.add(key)
            uniq.append(p)
    return uniq


def _decode_errors() -> tuple[type[BaseException], ...]:
    import zstandard

    return (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError, OSError)


class _BufferedStream:
    """A readable that fills a buffer of decoded bytes; subclasses implement `_fill(n)`.

    An error met while filling is raised only once the bytes decoded before it are handed over.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._eof = False
        self._pending_error: BaseException | None = None

    def _fill(self, n: int) -> None:
        raise NotImplementedError

    def read(self, n: int = -1) -> bytes:
        n = (1 << 62) if n < 0 else n
        self._fill(n)
        if not self._buf and self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        if len(self._buf) <= n:  # all of it: one copy, not two
            out = bytes(self._buf)
            self._buf.clear()
            return out
        out = bytes(memoryview(self._buf)[:n])
        del self._buf[:n]
        return out


class _GzipStream(_BufferedStream):
    """gzip reader that hands over every byte it could decompress before damage.

    gzip.GzipFile raises on a truncated member and drops the block it was
    decoding; feeding zlib ourselves keeps all readable output, then raises.
    Concatenated members (as `cat a.gz b.gz` makes) are read in turn.
    """

    def __init__(self, path: str):
        super().__init__()
        self._path = path
        self._fh = open_regular(path)
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._in = b""  # compressed input not yet given to the decompressor
        self._out_total = 0

    def _fill(self, n: int) -> None:
        # each decompress call returns at most DECODE_BUDGET bytes (the rest of its input waits
        # in unconsumed_tail): a 1 MB read of a max-ratio stream is 1 GB of output otherwise
        while len(self._buf) < n and not self._eof:
            if not self._in:
                self._in = self._fh.read(1 << 16)
                if not self._in:
                    self._eof = True
                    if not self._d.eof:
                        self._pending_error = EOFError("compressed file ended before the end-of-stream marker")
                    break
            try:
                if self._d.eof:  # the next member of a concatenated file
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out = self._d.decompress(self._in, min(DECODE_BUDGET, max(n - len(self._buf), 1 << 16)))
                self._in = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            except zlib.error as exc:
                self._eof = True
                self._pending_error = exc
                break
            self._buf += out
            self._out_total += len(out)
            _check_ratio(self._path, self._out_total, self._fh.tell() - len(self._in))

    def close(self) -> None:
        self._fh.close()


class _Transcode(_BufferedStream):
    """Input in another encoding read as UTF-8 bytes: UTF-16 (a BOM says so; PowerShell's `>`
    writes it) or whatever `--encoding` names (latin-1, cp1252, ...). Offsets and line numbers
    then refer to the UTF-8 text, as for a decompressed stream."""

    def __init__(self, inner, encoding: str):
        import codecs

        super().__init__()
        self._inner = inner
        self._dec = codecs.getincrementaldecoder(encoding)(errors="replace")

    def _fill(self, n: int) -> None:
        while len(self._buf) < n and not self._eof:
            try:
                raw = self._inner.read(1 << 20)
            except _decode_errors() as exc:  # a damaged compressed stream under the transcoder
                self._eof, self._pending_error = True, exc
                raw = b""
            if not raw:
                self._eof = True
                self._buf += self._dec.decode(b"", final=True).encode("utf-8")
                break
            self._buf += self._dec.decode(raw).encode("utf-8")

    def close(self) -> None:
        self._inner.close()


class _ZstdStream:
    """zstd reader that remembers its file, so progress can use the compressed position."""

    def __init__(self, fh, path: str = "?"):
        import zstandard

        self._fh = fh
        self._path = path
        self._out_total = 0
        self._reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)

    def read(self, n: int = -1) -> bytes:
        # never all at once (read(-1) of a bomb is its whole output); a read of n returns at most n
        out = self._reader.read(DECODE_BUDGET if n < 0 else n)
        self._out_total += len(out)
        _check_ratio(self._path, self._out_total, self._fh.tell())
        return out

    def close(self) -> None:
        self._reader.close()
        self._fh.close()


def _decompressed(path: str, comp: str | None):
    if comp == "gzip":
        return _GzipStream(path)
    if comp == "zstd":

        return _ZstdStream(open_regular(path), path)
    return open_regular(path, buffering=0)


def raw_stream(path: str, encoding: str | None = None):
    """The decompressed (and transcoded) byte stream of a source, to read with `read(n)`."""
    return _raw_stream(path, compression_of(path) if path != "-" else None, encoding)


def raw_position(fh) -> int:
    """Where in the file on disk a (possibly decompressing) stream is."""
    inner = getattr(fh, "_inner", fh)  # a UTF-16 transcoder wraps the stream
    raw = getattr(inner, "_fh", None) or inner
    try:
        return raw.tell()
    except (OSError, ValueError, AttributeError):
        return 0


def is_utf16(path: str, comp: str | None) -> bool:
    if path == "-":
        return False
    fh = _decompressed(path, comp)
    try:
        head = fh.read(2)
    except _decode_errors():
        return False
    finally:
        fh.close()
    return head in (b"\xff\xfe", b"\xfe\xff")


def _plain_utf8(encoding: str | None) -> bool:
    return encoding is None or encoding.lower().replace("_", "-") in ("utf-8", "utf8")


STDIN_HEAD_BYTES = 64 * 1024  # what is buffered of stdin to detect its format, then replayed


class _StdinReplay:
    """stdin with its first STDIN_HEAD_BYTES read ahead (format detection) and handed over
    again, ahead of the rest, to whoever reads it. One per stdin object."""

    def __init__(self, inner):
        self.inner = inner
        buf = bytearray()
        self.eof = False
        while len(buf) < STDIN_HEAD_BYTES:
            got = inner.read(STDIN_HEAD_BYTES - len(buf))
            if not got:
                self.eof = True
                break
            buf += got
        self.head = bytes(buf)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if self._pos >= len(self.head):
            return b"" if self.eof else self.inner.read(n)
        if n < 0:
            out = self.head[self._pos :] + (b"" if self.eof else self.inner.read())
            self._pos = len(self.head)
            return out
        out = self.head[self._pos : self._pos + n]
        self._pos += len(out)
        if len(out) < n and not self.eof:
            out += self.inner.read(n - len(out))
        return out


_stdin: _StdinReplay | None = None


def _stdin_replay() -> _StdinReplay:
    global _stdin
    inner = sys.stdin.buffer
    if _stdin is None or _stdin.inner is not inner:
        _stdin = _StdinReplay(inner)
    return _stdin


def stdin_complete() -> bool:
    """Whether the buffered head of stdin is all of it."""
    return _stdin_replay().eof


def _raw_stream(path: str, comp: str | None, encoding: str | None = None):
    if path == "-":
        stdin = _stdin_replay()
        return stdin if _plain_utf8(encoding) else _Transcode(stdin, encoding)
    if not _plain_utf8(encoding):
        return _Transcode(_decompressed(path, comp), encoding)
    if is_utf16(path, comp):
        return _Transcode(_decompressed(path, comp), "utf-16")
    return _decompressed(path, comp)


def iter_chunks(
    path: str,
    *,
    skip_bytes: int = 0,
    first_line: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
    state: ReadState | None = None,
    encoding: str | None = None,
    max_line: int = MAX_LINE_BYTES,
) -> Iterator[Chunk]:
    """Yield line-aligned chunks of the decompressed input, starting at `skip_bytes`.

    A damaged compressed stream (truncated gzip, bad zstd frame) ends the
    iteration after the last complete line; `state.error` says where it broke.
    """
    state = state if state is not None else ReadState()
    comp = compression_of(path)
    fh = _raw_stream(path, comp, encoding)
    try:
        if skip_bytes:
            if comp is None and path != "-" and not isinstance(fh, _Transcode):
                fh.seek(skip_bytes)
            else:
                left = skip_bytes
                while left:
                    got = fh.read(min(left, chunk_bytes))
                    if not got:
                        break
                    left -= len(got)
        offset = skip_bytes
        line_no = first_line
        carry = b""
        while True:
            try:
                block = fh.read(chunk_bytes)
            except _decode_errors() as exc:
                state.error = (
                    f"compressed stream damaged after {offset + len(carry)} decompressed bytes "
                    f"({type(exc).__name__}: {exc}); kept the lines before that point"
                )
                block = b""
                # the incomplete last line of a broken stream is kept as a line of its own
            if not block:
                if carry:
                    state.bytes_read = offset + len(carry)
                    yield Chunk(carry, line_no, offset)
                else:
                    state.bytes_read = offset
                return
            buf = carry + block if carry else block
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                if len(carry) > max_line + 1:
                    # an over-long line (rejected either way): hand over its head alone and
                    # read past the rest of it, keeping memory bounded
                    span, carry = len(carry), carry[: max_line + 2]
                    while True:
                        try:
                            block = fh.read(chunk_bytes)
                        except _decode_errors() as exc:
                            state.error = f"compressed stream damaged inside an over-long line ({type(exc).__name__}: {exc})"
                            block = b""
                        if not block:
                            rest = b""
                            break
                        i = block.find(b"\n")
                        if i >= 0:
                            span += i + 1
                            rest = block[i + 1 :]
                            break
                        span += len(block)
                    yield Chunk(carry, line_no, offset, span=span)
                    offset += span
                    line_no += 1
                    state.bytes_read = offset
                    carry = rest
                    if not block:
                        return
                continue
            data = buf[: cut + 1]
            carry = buf[cut + 1 :]
            state.raw_pos = raw_position(fh)
            yield Chunk(data, line_no, offset)
            line_no += data.count(b"\n")
            offset += len(data)
            state.bytes_read = offset
    finally:
        if path != "-":
            fh.close()


def can_pread(path: str, encoding: str | None = None) -> bool:
    """An uncompressed UTF-8 regular file: chunks can be read in place by offset."""
    return (
        path != "-"
        and (os.path.isfile(path) or is_uri(path))
        and compression_of(path) is None
        and _plain_utf8(encoding)
        and not is_utf16(path, None)
    )


class PlainReader:
    """Whole-line chunks of an uncompressed file, read by offset into one reused buffer.

    No allocation or copy per chunk (`iter_chunks` makes three); a chunk starts wherever
    the caller says, so the unfinished last event of a chunk is simply read again at the
    start of the next one. `read_at` returns (view, end offset, at end of file); the view
    is valid until the next call.
    """

    def __init__(self, path: str, chunk_bytes: int = CHUNK_BYTES, buffers: int = 1):
        self._remote = None
        self._preadv = os.preadv
        if is_uri(path):
            # an object: its byte ranges by ranged reads (pmortem/remote.py), not pread
            self._remote = open_regular(path)
            self.fd, self._preadv, size = -1, self._remote.preadv, self._remote.size
        else:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                os.close(self.fd)
                raise InputError(f"cannot read {display_path(path)}: not a regular file")
            size = os.fstat(self.fd).st_size
        # several buffers when chunks are read ahead while earlier ones are still in use; no
        # bigger than the file (+1: a read that fills less than the buffer is the end)
        cap = min(chunk_bytes, max(size + 1, 1 << 16))
        # anonymous mappings, made on first use (`buffer`), their pages populated in one go
        # (MAP_POPULATE: 23 ms for 64 MB here, against 42 ms of page faults when the first
        # read fills them page by page; a bytearray zeroes them first, slower still)
        self._cap = cap
        self.bufs: list[mmap.mmap | None] = [None] * buffers
        self._made = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._cap

    def buffer(self, slot: int) -> mmap.mmap:
        """Read buffer `slot`, made now if it is not yet. Another thread may call this ahead
        of the reader's (the pipelined ingest's builder, idle while the first chunk is read)."""
        with self._made:
            if self.bufs[slot] is None:
                flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
                self.bufs[slot] = mmap.mmap(-1, self._cap, flags=flags)
            return self.bufs[slot]

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()
            return
        os.close(self.fd)

    def __enter__(self) -> PlainReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_at(self, off: int, slot: int = 0, limit: int | None = None) -> tuple[memoryview | None, int, bool]:
        """`limit`: read at most this many bytes (a smaller chunk than the buffer holds)."""
        buf = self.buffer(slot)
        want = len(buf) if limit is None else max(1, min(limit, len(buf)))
        mv = memoryview(buf)[:want]
        n = self._preadv(self.fd, [mv], off)
        if n == 0:
            return None, off, True
        if n < want:
            return mv[:n], off + n, True
        cut = buf.rfind(b"\n", 0, n)
        if cut >= 0:
            return mv[: cut + 1], off + cut + 1, False
        if want < len(buf):  # no whole line within the limit: the whole buffer then
            return self.read_at(off, slot)
        # one line longer than the whole buffer: read it whole when it is of a length we
        # accept, else only enough of its head to be rejected as over-long; go on after it
        end, eof = self._line_end(off + n)
        if self._remote is not None:
            return memoryview(self._remote.pread(min(end - off, MAX_LINE_BYTES + 2), off)), end, eof
        with open(self.fd, "rb", closefd=False) as fh:
            fh.seek(off)
            piece = fh.read(min(end - off, MAX_LINE_BYTES + 2))
        return memoryview(piece), end, eof

    def _line_end(self, pos: int) -> tuple[int, bool]:
        step = bytearray(1 << 20)
        while True:
            got = self._preadv(self.fd, [step], pos)
            if got == 0:
                return pos, True
            i = step.find(b"\n", 0, got)
            if i >= 0:
                return pos + i + 1, False
            pos += got


def read_range(path: str, start: int, end: int, encoding: str | None = None) -> bytes:
    """Decompressed (and transcoded) bytes [start, end) of a source, for re-reading a window."""
    comp = compression_of(path)
    if comp is None and _plain_utf8(encoding) and not is_utf16(path, None):
        with open_regular(path) as fh:
            fh.seek(start)
            return fh.read(end - start)
    fh = _raw_stream(path, comp, encoding)
    try:
        left = start
        while left:
            got = fh.read(min(left, CHUNK_BYTES))
            if not got:
                return b""
            left -= len(got)
        return fh.read(end - start)
    except _decode_errors():
        return b""
    finally:
        fh.close()


def head_bytes(path: str, n: int = 65536, encoding: str | None = None) -> bytes:
    """First n decompressed bytes (format detection), tolerant of damaged streams.
    For stdin ("-"), of what is buffered of it (STDIN_HEAD_BYTES), which its reader gets again."""
    if path == "-":
        head = _stdin_replay().head
        if not _plain_utf8(encoding):
            head = _Transcode(io.BytesIO(head), encoding).read()
        return head[:n]
    comp = compression_of(path)
    fh = _raw_stream(path, comp, encoding)
    try:
        out = io.BytesIO()
        while out.tell() < n:
            try:
                got = fh.read(n - out.tell())
            except _decode_errors():
                break
            if not got:
                break
            out.write(got)
        return out.getvalue()
    finally:
        fh.close()
