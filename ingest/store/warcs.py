"""Reading WARC files back: each record with its place (offset, length) in the file, through warcio.

The one place that walks WARC files (recovery, export, WACZ and verify-bag call it). warcio's
`ArchiveIterator` does the parsing; records are taken as stored (`no_record_parse`), so a
record's block is the bytes its `WARC-Block-Digest` covers, HTTP chunking and all.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed


@dataclass(frozen=True)
class CompletedWarc:
    """A WARC file written to the end and renamed from .open: what its `warcs` row records."""

    name: str
    blake3: str
    sha256: str
    size: int
    records: int


class WarcReadError(ValueError):
    """A WARC member that cannot be read as one complete record."""


@dataclass(frozen=True)
class RecordPlace:
    """One record of a WARC file: where it lies and its header fields (first value of each name)."""

    offset: int
    length: int
    headers: dict[str, str]

    @property
    def warc_type(self) -> str | None:
        return self.headers.get("WARC-Type")

    @property
    def record_id(self) -> str | None:
        return self.headers.get("WARC-Record-ID")

    @property
    def concurrent_to(self) -> str | None:
        return self.headers.get("WARC-Concurrent-To")

    @property
    def target_uri(self) -> str | None:
        return self.headers.get("WARC-Target-URI")


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


def _places(fh: BinaryIO) -> Iterator[RecordPlace]:
    it = ArchiveIterator(fh, no_record_parse=True)
    for record in it:
        headers = _first_values(record.rec_headers.headers)
        yield RecordPlace(it.get_record_offset(), it.get_record_length(), headers)


def records(path: Path) -> list[RecordPlace]:
    """Every record of a WARC file, in file order."""
    try:
        with open(path, "rb") as fh:
            return list(_places(fh))
    except ArchiveLoadFailed as exc:
        raise WarcReadError(f"{path.name}: {exc}") from None


def record_at(fh: BinaryIO, offset: int) -> tuple[RecordPlace, bytes] | None:
    """The record starting at `offset` of an open WARC file and its member bytes; None at the end."""
    fh.seek(offset)
    try:
        place = next(_places(fh), None)
    except ArchiveLoadFailed as exc:
        raise WarcReadError(f"no WARC record at offset {offset}: {exc}") from None
    if place is None:
        return None
    fh.seek(place.offset)
    return place, fh.read(place.length)


def parse_member(member: bytes) -> tuple[dict[str, str], bytes]:
    """The header fields and the block of one complete WARC record (one gzip member)."""
    fh = io.BytesIO(member)
    try:
        it = ArchiveIterator(fh, no_record_parse=True)
        record = next(iter(it), None)
        if record is None:
            raise WarcReadError("no WARC record")
        block = record.raw_stream.read()
        headers = _first_values(record.rec_headers.headers)
        length = it.get_record_length()
        rest = next(iter(it), None)
    except ArchiveLoadFailed as exc:
        raise WarcReadError(f"no WARC header ({exc})") from None
    except EOFError as exc:
        raise WarcReadError(f"truncated record ({exc})") from None
    if rest is not None or length != len(member):
        raise WarcReadError("not exactly one complete WARC record")
    declared = headers.get("Content-Length", "")
    if not declared.isdigit() or int(declared) != len(block):
        raise WarcReadError("record block shorter than its Content-Length")
    return headers, block


# A WARC.gz is one gzip member per record. After a crash the last member may be torn; recovery
# finds the complete members by gzip framing alone (warcio would read a torn member as far as it
# goes), cuts the rest, and counts what remains.


def member_ends(data: bytes) -> list[int]:
    """End offsets of the complete gzip members at the start of data."""
    ends = []
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            d.decompress(data[pos:])
        except zlib.error:
            break
        if not d.eof:
            break
        pos = len(data) - len(d.unused_data)
        ends.append(pos)
    return ends


def truncate_to_complete_members(path: Path) -> None:
    data = path.read_bytes()
    ends = member_ends(data)
    keep = ends[-1] if ends else 0
    if keep != len(data):
        # The torn last member was never referenced by a committed row (rows come after the write).
        with open(path, "r+b") as fh:
            fh.truncate(keep)
            os.fsync(fh.fileno())


def count_members(path: Path) -> int:
    return len(member_ends(path.read_bytes()))
