"""Writes the seed corpus (fuzz/corpus/samples, fuzz/corpus/loghub) from samples/ and Loghub.

    python fuzz/make_corpus.py [--loghub ../shared/corpora/loghub]

Seeds are small (a few KB: the differential target parses every input four times through
polars) and in the fuzz input format of fuzz/differential.py: byte 0 the envelope, byte 1
the cut seed, then log text. The sample bundles' line-envelope files give real kubectl,
kubectl --prefix and CRI text; Loghub's 16 systems give varied payloads, wrapped in the
envelopes as tests/parsers/test_native.py wraps them (its LICENSE goes next to them).
Deterministic: re-running rewrites the same files.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import differential as diff

from pmortem.ingest import detect_format

REPO = Path(__file__).resolve().parents[1]
SEED_BYTES = 3000


def _write(out: Path, envelope: str, data: bytes, seed: int, name: str) -> None:
    buf = diff.encode_input(envelope, data, seed)
    h = hashlib.sha1(buf).hexdigest()[:12]
    (out / f"{name}-{h}").write_bytes(buf)


def _slices(data: bytes, n: int) -> list[bytes]:
    """n line-aligned pieces of about SEED_BYTES from spread-out places of a file."""
    out = []
    for k in range(n):
        at = data.find(b"\n", len(data) * k // n) + 1 if k else 0
        end = data.find(b"\n", at + SEED_BYTES)
        piece = data[at : end + 1 if end >= 0 else len(data)]
        if piece:
            out.append(piece)
    return out


def samples(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for p in sorted((REPO / "samples").rglob("*")):
        if "repro" in p.parts or not p.is_file() or p.suffix in (".md", ".json"):
            continue
        env = detect_format(str(p))
        if env not in diff.ENVELOPES:
            continue
        data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        for i, piece in enumerate(_slices(data, 3)):
            stem = p.stem.split(".")[0]
            name = f"{p.parent.name}-{stem}" if stem.isdigit() else stem  # CRI files are <container>/0.log
            _write(out, env, piece, i * 37, f"{name[:28]}-{i}")
            count += 1
    return count


def _kubectl(lines: list[bytes], rnd: random.Random) -> bytes:
    t = datetime(2022, 4, 7, 23, 59, 30, tzinfo=UTC)
    pods = [b"[pod/api-7d9f8b6c4-qx2lp/api] ", b"[pod/api-7d9f8b6c4-zz9kk/sidecar] ", b""]
    out = []
    for ln in lines:
        t += timedelta(microseconds=rnd.randrange(0, 3_000_000))
        frac = rnd.choice(["", ".5", f".{rnd.randrange(10**9):09d}", f".{rnd.randrange(10**12):012d}"])
        zone = rnd.choice(["Z", "Z", "+02:00", "-0530"])
        out.append(rnd.choice(pods) + t.strftime("%Y-%m-%dT%H:%M:%S").encode() + frac.encode() + zone.encode() + b" " + ln)
    return b"\n".join(out) + b"\n"


def _cri(lines: list[bytes], rnd: random.Random) -> bytes:
    t = datetime(2022, 12, 31, 23, 59, 0, tzinfo=UTC)
    out = []
    for ln in lines:
        t += timedelta(milliseconds=rnd.randrange(0, 900))
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.%f").encode() + b"123Z"
        stream = rnd.choice([b"stdout", b"stderr"])
        while len(ln) > 40 and rnd.random() < 0.3:
            cut = rnd.randrange(1, len(ln))
            out.append(ts + b" " + stream + b" P " + ln[:cut])
            ln = ln[cut:]
        out.append(ts + b" " + stream + rnd.choice([b" F ", b" F:tag "]) + ln)
    return b"\n".join(out) + b"\n"


def loghub(src: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "LICENSE", out / "LICENSE")
    count = 0
    for sysdir in sorted(p for p in src.iterdir() if (p / f"{p.name}_2k.log").exists()):
        lines = (sysdir / f"{sysdir.name}_2k.log").read_bytes().splitlines()
        rnd = random.Random(sysdir.name)
        for env, wrap in (("kubectl_prefix", _kubectl), ("cri", _cri)):
            at = rnd.randrange(0, len(lines) - 30)
            data = wrap(lines[at : at + 25], rnd)[:SEED_BYTES]
            _write(out, env, data[: data.rfind(b"\n") + 1], rnd.randrange(256), f"{sysdir.name}-{env}")
            count += 1
        # bare lines under the kubectl envelope: every line deferred to the reference
        _write(out, "kubectl", b"\n".join(lines[:12]) + b"\n", 0, f"{sysdir.name}-bare")
        count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loghub", type=Path, default=REPO.parent / "shared" / "corpora" / "loghub")
    ap.add_argument("--out", type=Path, default=REPO / "fuzz" / "corpus")
    a = ap.parse_args()
    print("samples:", samples(a.out / "samples"))
    if a.loghub.is_dir():
        print("loghub:", loghub(a.loghub, a.out / "loghub"))


if __name__ == "__main__":
    main()
