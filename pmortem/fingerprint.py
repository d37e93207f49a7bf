"""A source's identity on disk: hashes of its head and tail, and of its decompressed content.

The ingest compares them with what `sources` holds to tell a file seen before (unchanged,
renamed, grown by appends, half-ingested) and the same content in another container (a
rotated log compressed on the way).
"""

from __future__ import annotations

import hashlib

from .parsers.readers import head_bytes, is_uri, open_regular

HEAD_LEN = 4096
TAIL_LEN = 4096


def _open(path: str):
    """The file, or an object-store URI's object (pmortem/remote.py), for reading."""
    return open_regular(path) if is_uri(path) else open(path, "rb")


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def fingerprint(path: str, size: int, head_len: int = HEAD_LEN) -> tuple[str, str, int]:
    """(head hash, tail hash, head length) of the file as it is on disk."""
    with _open(path) as fh:
        head = fh.read(min(head_len, size))
        fh.seek(max(0, size - TAIL_LEN))
        tail = fh.read(min(TAIL_LEN, size))
    return hash_bytes(head), hash_bytes(tail), len(head)


def content_fingerprint(path: str, comp: str | None, size: int) -> tuple[str | None, int | None]:
    """Hash of the first HEAD_LEN decompressed bytes, and the decompressed size when the
    container records it (gzip's ISIZE trailer, zstd's frame header); None when unknown."""
    head = head_bytes(path, HEAD_LEN)
    if len(head) < HEAD_LEN:
        return None, None
    if comp is None:
        return hash_bytes(head), size
    with _open(path) as fh:
        if comp == "gzip":
            if size < 18:
                return hash_bytes(head), None
            fh.seek(size - 4)
            return hash_bytes(head), int.from_bytes(fh.read(4), "little")  # mod 2**32, as gzip keeps it
        import zstandard

        n = zstandard.frame_content_size(fh.read(18))
        return hash_bytes(head), (n if n >= 0 else None)


def hash_range(path: str, start: int, length: int) -> str:
    with _open(path) as fh:
        fh.seek(start)
        return hash_bytes(fh.read(length))
