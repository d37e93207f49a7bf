"""Object stores and HDFS as inputs: `s3://`, `s3a://`, `gs://`, `hdfs://`, `abfs://` URIs read
through `pyarrow.fs` (S3, GCS, HDFS, Azure; pyarrow is a dependency already).

What the ingest needs of a file, for a URI: listing a prefix (recursively, and globs), size
and modification time, a byte range (`RemoteFile.pread`: one ranged GET, what a Spark task
reading a byte range of a large object does), and the whole object as a stream (`read`,
buffered: gzip, zstd and JSON documents). `parsers/readers.py` sends a URI here at the few
places it opens a file (`open_regular`, `PlainReader`, `expand_paths`); a local path never
comes here and is read as before (os.pread, the same readers).

Credentials and endpoints are pyarrow's (the AWS SDK's) usual ones: AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION / AWS_DEFAULT_REGION,
AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 for an S3-compatible store (MinIO, Ceph);
`PMORTEM_S3_ENDPOINT` overrides them for pmortem alone. GCS: GOOGLE_APPLICATION_CREDENTIALS.
HDFS: libhdfs, JAVA_HOME, CLASSPATH (`hadoop classpath --glob`). Azure: AZURE_STORAGE_*.
Anything that goes wrong (no such key, no credentials, an unreachable endpoint, a scheme this
pyarrow cannot open) is a `RemoteError`: one sentence, exit 2.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import sys
import threading
from datetime import UTC, datetime

from .errors import UserError
from .parsers.readers import InputError

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(/[^?#]*)?$")
# pyarrow's name for a scheme Hadoop tools use
_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}
# the environment a Spark task needs to reach the same store as the driver (pmortem/spark)
FORWARD_ENV = (
    "PMORTEM_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_EC2_METADATA_DISABLED",
    "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY",
    "ARROW_LIBHDFS_DIR", "HADOOP_HOME", "CLASSPATH",
)
GCS_RETRY_SECONDS = 20
FIRST_READ = 256 << 10  # the first read-ahead of a stream (a format sniff reads 4 bytes, then 256 KiB)
MAX_READ = 8 << 20  # read-ahead doubles up to this: one GET per 8 MiB of a streamed object


class RemoteError(UserError, InputError):
    """A URI that cannot be listed or read: one sentence (a UserError: exit 2; an InputError: an
    input the ingest refuses, as it refuses an unreadable local file)."""


def is_remote(path) -> bool:
    """A URI with a scheme other than file:// (`s3://bucket/key`, `hdfs://nn/path`)."""
    return isinstance(path, str) and "://" in path[:16] and not path.startswith("file:") and _URI.match(path) is not None


def _split(uri: str) -> tuple[str, str, str]:
    m = _URI.match(uri)
    if not m:
        raise RemoteError(f"cannot read {uri}: not a URI of the form scheme://bucket/key")
    return m.group(1).lower(), m.group(2), (m.group(3) or "/").lstrip("/")


_lock = threading.Lock()
_filesystems: dict[tuple, tuple] = {}  # (scheme, authority, endpoint) -> (FileSystem, its root path)


def _endpoint() -> str | None:
    return os.environ.get("PMORTEM_S3_ENDPOINT") or None


def filesystem(uri: str):
    """(pyarrow FileSystem, path inside it) of a URI; one FileSystem per store and process."""
    fs, base, rest = _store(uri)
    rest = rest.rstrip("/")  # (a prefix spelled as a directory, s3://bucket/logs/)
    if not base:  # HDFS: absolute paths
        return fs, "/" + rest
    return fs, f"{base}/{rest}" if rest else base


def _store(uri: str):
    """(pyarrow FileSystem, the store's root path in it, the rest of the URI's path)."""
    scheme, auth, rest = _split(uri)
    scheme = _ALIASES.get(scheme, scheme)
    key = (scheme, auth, _endpoint(), os.environ.get("AWS_ENDPOINT_URL_S3"), os.environ.get("AWS_ENDPOINT_URL"))
    with _lock:
        hit = _filesystems.get(key)
    if hit is None:
        root = f"{scheme}://{auth}/"
        ep = _endpoint()
        if scheme == "s3" and ep:
            root += "?" + "&".join(_endpoint_query(ep))
        elif scheme == "gs":
            # (the GCS client retries for 15 minutes by default: without credentials or network
            # that is a hang, not an answer)
            root += f"?retry_limit_seconds={GCS_RETRY_SECONDS}"
        try:
            import pyarrow.fs as pafs

            said: list[str] = []
            with quiet_stderr(said) if scheme in ("hdfs", "viewfs") else contextlib.nullcontext():
                fs, base = pafs.FileSystem.from_uri(root)
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors: ArrowInvalid, OSError, ...
            raise RemoteError(f"cannot open {scheme}://{auth}/: {_reason(exc, scheme)}") from None
        hit = (fs, base.rstrip("/"))
        with _lock:
            _filesystems[key] = hit
    return hit[0], hit[1], rest


def _endpoint_query(ep: str) -> list[str]:
    from urllib.parse import quote, urlsplit

    u = urlsplit(ep if "://" in ep else f"https://{ep}")
    return [f"endpoint_override={quote(u.netloc, safe='')}", f"scheme={u.scheme}"]


def _uri_of(uri: str, fs_path: str) -> str:
    """The URI of `fs_path` (a listed file) on the store `uri` is on, spelled as `uri` spells it."""
    scheme, auth, _ = _split(uri)
    _fs, base, _rest = _store(uri)
    rel = fs_path[len(base):] if base and fs_path.startswith(base) else fs_path
    return f"{uri[: len(scheme)]}://{auth}/{rel.lstrip('/')}"


_CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
    "s3a": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS, or gcloud auth application-default login",
    "abfs": "AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY, or az login",
    "abfss": "AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY, or az login",
}


def _reason(exc: BaseException, scheme: str = "s3") -> str:
    """pyarrow's message, one line, with what to check."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    msg = msg.split("; Details:")[0]
    if len(msg) > 300:
        cut = msg.rfind(". ", 0, 300)
        msg = msg[: cut + 1] if cut > 100 else msg[:300] + "..."
    low = msg.lower()
    if "unrecognized filesystem type" in low:
        return f"pyarrow has no file system for {scheme}:// (it reads s3, gs, hdfs, abfs)"
    if "libjvm" in low or "libhdfs" in low:
        return f"{msg} (HDFS needs libhdfs and a Java runtime: set JAVA_HOME, ARROW_LIBHDFS_DIR and CLASSPATH=$(hadoop classpath --glob))"
    if "network_connection" in low or "could not connect" in low or "couldn't connect" in low or "timed out" in low:
        return f"{msg} (check the endpoint: AWS_ENDPOINT_URL or PMORTEM_S3_ENDPOINT, and the network)"
    if any(w in low for w in ("access denied", "access_denied", "credential", "forbidden", "signature", "token")):
        return f"{msg} (check the credentials: {_CREDENTIALS.get(scheme, _CREDENTIALS['s3'])})"
    return msg


# what the last listing said of each object (size, mtime): the driver asks again for each
# file it lists, and one listing answers for all of them
_listed: dict = {}  # URI -> pyarrow FileInfo
# the first FIRST_READ bytes of recently listed objects: the driver opens an object several times
# for its first bytes (compression magic, UTF-16 BOM, format detection, fingerprint); one GET
_heads: dict[tuple, bytes] = {}
HEADS_KEPT = 16


def _info(uri: str):
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    try:
        info = fs.get_file_info(path)
    except Exception as exc:  # noqa: BLE001
        raise RemoteError(f"cannot read {uri}: {_reason(exc, _split(uri)[0])}") from None
    return fs, path, info, pafs.FileType


def getsize(uri: str) -> int:
    if uri in _listed:
        return int(_listed[uri].size or 0)
    _fs, _p, info, ft = _info(uri)
    if info.type != ft.File:
        raise RemoteError(f"cannot read {uri}: no such object")
    return int(info.size or 0)


def getmtime(uri: str) -> datetime:
    """When the object was written (now when the store does not say)."""
    m = (_listed[uri] if uri in _listed else _info(uri)[2]).mtime
    if m is None:
        return datetime.now(UTC)
    return m if m.tzinfo else m.replace(tzinfo=UTC)


def exists(uri: str) -> bool:
    _fs, _p, info, ft = _info(uri)
    return info.type == ft.File


def readable(uri: str) -> bool:
    """The object is there and can be read (with the credentials at hand); never raises."""
    try:
        return exists(uri)
    except RemoteError:
        return False


def _magic(s: str) -> bool:
    return any(c in s for c in "*?[")


def _match(parts: list[str], pattern: list[str]) -> bool:
    """fnmatch per path component; `**` any number of components (as glob's recursive=True)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(parts[1:], pattern[1:])


def expand(uri: str, skipped: list[str] | None = None, not_logs=None) -> list[str]:
    """The objects a URI names: itself (an object), every object under it (a prefix, recursively;
    names starting with '.' and what `not_logs` matches left out, the latter listed in
    `skipped`), or every object a glob in it matches (`s3://b/logs/*/app-*.log.gz`)."""
    import pyarrow.fs as pafs

    scheme, auth, rest = _split(uri)
    comps = [c for c in rest.split("/") if c]
    glob_at = next((i for i, c in enumerate(comps) if _magic(c)), None)
    base_uri = uri if glob_at is None else f"{uri[: len(scheme)]}://{auth}/" + "/".join(comps[:glob_at])
    fs, path, info, ft = _info(base_uri)
    if glob_at is None and info.type == ft.File:
        _listed[uri] = info
        return [uri]
    if info.type == ft.NotFound:
        raise RemoteError(f"no such object or prefix: {uri}")
    try:
        listed = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except Exception as exc:  # noqa: BLE001
        raise RemoteError(f"cannot list {base_uri}: {_reason(exc, scheme)}") from None
    out = []
    root = path.rstrip("/")
    for f in listed:
        if f.type == ft.File:
            _listed[_uri_of(uri, f.path)] = f
    files = []
    for f in listed:
        if f.type == ft.File:
            rel = f.path[len(root):].lstrip("/") if f.path.startswith(root) else f.path
            files.append((rel.split("/"), f))
    # the order a local directory is read in (expand_paths: os.walk, sorted): a directory's
    # files, then its subdirectories; the order sources are stored in (and which of two copies
    # of an event is kept) is the local run's
    # (a glob's matches: sorted by path, as glob's are)
    if glob_at is None:
        files.sort(key=lambda pf: [(1, c) for c in pf[0][:-1]] + [(0, pf[0][-1])])
    else:
        files.sort(key=lambda pf: "/".join(pf[0]))
    for parts, f in files:
        if glob_at is not None:
            if _match(parts, comps[glob_at:]):
                out.append(_uri_of(uri, f.path))
            continue
        if any(p.startswith(".") for p in parts):
            continue
        if not_logs is not None and not_logs.search(parts[-1]):
            if skipped is not None:
                skipped.append(_uri_of(uri, f.path))
            continue
        out.append(_uri_of(uri, f.path))
    if not out and glob_at is not None:
        raise RemoteError(f"no object matches {uri!r}; check the path or quote the glob")
    return out


class RemoteFile:
    """An object opened for reading: `pread(n, off)` (one ranged GET), and a file-like
    `read`/`seek`/`tell` with a read-ahead buffer (FIRST_READ, doubling to MAX_READ) for
    streaming it whole through the decompressors and the document parser."""

    def __init__(self, uri: str):
        fs, path = filesystem(uri)
        self.uri = uri
        self._fs, self._path, self._raf = fs, path, None
        info = _listed.get(uri)
        if info is not None:
            # listed: its size is known, and it is opened (a HEAD request) only for a read
            # past its cached head
            self.size = int(info.size or 0)
            self._key = (uri, self.size, info.mtime)
        else:
            self._open()
            self.size = self._raf.size()
            self._key = None
        self._pos = 0
        self._buf = b""
        self._buf_at = 0
        self._next = FIRST_READ
        self.closed = False

    def pread(self, n: int, off: int) -> bytes:
        if n <= 0 or off >= self.size:
            return b""
        if self._key is not None and off + min(n, self.size - off) <= min(FIRST_READ, self.size):
            head = _heads.get(self._key)
            if head is None:
                head = _heads[self._key] = self._get(FIRST_READ, 0)
                while len(_heads) > HEADS_KEPT:
                    _heads.pop(next(iter(_heads)))
            return head[off : off + n]
        return self._get(n, off)

    def _open(self) -> None:
        try:
            self._raf = self._fs.open_input_file(self._path)
        except Exception as exc:  # noqa: BLE001
            raise RemoteError(f"cannot read {self.uri}: {_reason(exc, _split(self.uri)[0])}") from None

    def _get(self, n: int, off: int) -> bytes:
        if self._raf is None:
            self._open()
        try:
            return self._raf.read_at(min(n, self.size - off), off)
        except Exception as exc:  # noqa: BLE001
            raise RemoteError(f"cannot read {self.uri} at byte {off}: {_reason(exc, _split(self.uri)[0])}") from None

    def preadv(self, _fd, bufs, off: int) -> int:
        """os.preadv's shape (PlainReader calls either): the bytes go straight into the
        caller's buffers (one ranged GET each, no intermediate bytes object)."""
        total = 0
        for b in bufs:
            mv = memoryview(b).cast("B")
            want = max(0, min(len(mv), self.size - (off + total)))
            if want <= 0:
                break
            if self._key is not None and off + total + want <= min(FIRST_READ, self.size):
                got = self.pread(want, off + total)
                mv[: len(got)] = got
                n = len(got)
            else:
                n = self._readinto(mv[:want], off + total)
            total += n
            if n < len(mv):
                break
        return total

    def _readinto(self, mv: memoryview, off: int) -> int:
        if self._raf is None:
            self._open()
        try:
            self._raf.seek(off)
            return self._raf.readinto(mv)
        except Exception as exc:  # noqa: BLE001
            raise RemoteError(f"cannot read {self.uri} at byte {off}: {_reason(exc, _split(self.uri)[0])}") from None

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self._pos
        out = []
        while n > 0 and self._pos < self.size:
            i = self._pos - self._buf_at
            if 0 <= i < len(self._buf):
                piece = self._buf[i : i + n]
            else:
                want = max(n, self._next) if n <= MAX_READ else n
                self._next = min(self._next * 2, MAX_READ)
                self._buf, self._buf_at = self.pread(want, self._pos), self._pos
                if not self._buf:
                    break
                piece = self._buf[:n]
            out.append(piece)
            self._pos += len(piece)
            n -= len(piece)
        return b"".join(out)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, off: int, whence: int = 0) -> int:
        self._pos = off if whence == 0 else self._pos + off if whence == 1 else self.size + off
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._buf = b""
            if self._raf is not None:
                with contextlib.suppress(Exception):
                    self._raf.close()

    def __enter__(self) -> RemoteFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_file(uri: str) -> RemoteFile:
    return RemoteFile(uri)


@contextlib.contextmanager
def quiet_stderr(said: list[str]):
    """Native chatter (the JVM's start-up lines, libhdfs probing for libjvm) kept off the
    terminal: stderr at the file-descriptor level, for the block only; what was said goes
    to `said` (a failure's reason is among it)."""
    import tempfile

    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    saved = os.dup(fd)
    with tempfile.TemporaryFile("w+", errors="replace") as cap:
        os.dup2(cap.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            cap.seek(0)
            said.extend(cap.read(1 << 16).splitlines())
