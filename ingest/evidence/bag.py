"""BagIt (RFC 8493) bags: write manifests and tag files, validate, zip (evidence/bagpaths unzips).

The bag declares BagIt-Version 1.0, the version RFC 8493 defines. The `bagit` package writes
0.97 by default (a draft that predates the RFC); it reads and validates 1.0 bags, so writing the
tag files here lets the bag claim the standard it follows while that validator still accepts it.

Tag files are written the way `bagit` would rewrite them (bag-info.txt with sorted labels,
"LABEL: VALUE" lines), so that `bagit.Bag(path).save()` on an untouched bag reproduces them.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

BAGIT_VERSION = "1.0"
ALGORITHMS = ("sha256", "sha512")
CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def encode_path(rel: str) -> str:
    """RFC 8493 section 2.1.3: percent-encode CR, LF and % in manifest file paths."""
    return rel.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def payload_files(bag: Path) -> list[str]:
    """Every file under data/, as bag-relative POSIX paths, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(bag / "data"):
        dirnames.sort()
        for name in sorted(filenames):
            out.append((Path(dirpath) / name).relative_to(bag).as_posix())
    return out


def _write_manifest(path: Path, entries: Iterable[tuple[str, str]]) -> None:
    path.write_bytes("".join(f"{digest}  {encode_path(rel)}\n" for rel, digest in entries).encode("utf-8"))


def bag_info_text(info: dict[str, str]) -> str:
    lines = []
    for label in sorted(info):
        value = str(info[label]).replace("\r", "").replace("\n", "")
        lines.append(f"{label}: {value}\n")
    return "".join(lines)


TAG_MANIFESTS = tuple(f"tagmanifest-{a}.txt" for a in ALGORITHMS)


def write_bag(bag: Path, info: dict[str, str]) -> None:
    """Write bagit.txt, bag-info.txt (with Payload-Oxum) and the payload manifests.

    The payload must already be in bag/data. The tag manifests come later
    (`write_tag_manifests`), once every other tag file (the signature) is written.
    """
    files = payload_files(bag)
    total = sum((bag / rel).stat().st_size for rel in files)
    (bag / "bagit.txt").write_bytes(f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n".encode())
    info = dict(info, **{"Payload-Oxum": f"{total}.{len(files)}"})
    (bag / "bag-info.txt").write_bytes(bag_info_text(info).encode("utf-8"))
    for alg in ALGORITHMS:
        _write_manifest(bag / f"manifest-{alg}.txt", ((rel, file_digest(bag / rel, alg)) for rel in files))


def write_tag_manifests(bag: Path) -> None:
    """List every tag file (every file beside data/ but the tag manifests) in both tag
    manifests, as RFC 8493 section 2.2.1 says they should be."""
    tags = sorted(p.name for p in bag.iterdir() if p.is_file() and p.name not in TAG_MANIFESTS)
    for alg in ALGORITHMS:
        _write_manifest(bag / f"tagmanifest-{alg}.txt", ((rel, file_digest(bag / rel, alg)) for rel in tags))


def read_bag_info(bag: Path) -> dict[str, str]:
    """bag-info.txt as a dict (the last value wins for a repeated label; continuation lines joined)."""
    info: dict[str, str] = {}
    path = bag / "bag-info.txt"
    if not path.is_file():
        return info
    last = None
    for line in path.read_text("utf-8", errors="replace").splitlines():
        if line[:1] in (" ", "\t") and last:
            info[last] += " " + line.strip()
        elif ":" in line:
            label, _, value = line.partition(":")
            last = label.strip()
            info[last] = value.strip()
    return info


@dataclass(frozen=True)
class BagProblem:
    path: str  # bag-relative path, or "" for the bag as a whole
    reason: str


def validate_with_bagit(bag: Path) -> Iterator[BagProblem]:
    """Run the `bagit` package's validator; one problem per path it names (no duplicates)."""
    import logging

    import bagit

    logging.getLogger("bagit").setLevel(logging.CRITICAL)
    try:
        b = bagit.Bag(str(bag))
        b.validate()
    except bagit.BagValidationError as exc:
        seen: set[str] = set()
        details = exc.details or []
        for d in details:
            path = str(getattr(d, "path", "") or "")
            if path in seen:
                continue
            seen.add(path)
            if isinstance(d, bagit.ChecksumMismatch):
                yield BagProblem(path, f"{d.algorithm} checksum differs from the manifest")
            elif isinstance(d, bagit.FileMissing):
                yield BagProblem(path, "listed in a manifest but missing")
            elif isinstance(d, bagit.UnexpectedFile):
                yield BagProblem(path, "in the payload but in no manifest")
            else:
                yield BagProblem(path, str(d))
        if not details:
            yield BagProblem("", exc.message or str(exc))
    except bagit.BagError as exc:
        yield BagProblem("", str(exc))


def zip_bag(bag: Path, target: Path) -> None:
    """Zip the bag under one top-level folder named like the bag."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(bag):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                zf.write(path, (Path(bag.name) / path.relative_to(bag)).as_posix())
