"""The tamper-evident event log: append-only JSON lines, each entry chained to the previous by SHA-256.

Entry (canonical JSON, RFC 8785):
    {"seq": 7, "time": "2026-11-28T18:00:00.000000Z", "event": "capture",
     "table": "captures", "key": "12", "row": {...}, "row_hash": "<sha256 of canonical row>",
     "prev": "<hash of entry 6>", "hash": "<sha256 of this entry without 'hash'>"}

The rows in the log are what the database tables are rebuilt from, and what `verify` compares
the tables against. Anyone holding the files can rewrite the whole chain consistently, so the
head (seq and hash) must be published elsewhere and checked with `verify --head SEQ:HEX`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import rfc8785

from ingest import faults
from ingest.errors import StoreError
from ingest.store.files import os_reason

GENESIS = "0" * 64


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON of value.

    For what the log holds (ASCII keys, strings, integers below 2**53, booleans, null, floats
    whose shortest form is the same in Python and ECMAScript) the json module gives the same
    bytes many times faster than a pure-Python serialiser; anything else goes through rfc8785.
    """
    try:
        return _dump(_prep(value))
    except (_NotPlain, UnicodeEncodeError):  # a lone surrogate: let rfc8785 refuse it
        return rfc8785.dumps(value)


def _dump(prepared: Any) -> bytes:
    """The canonical bytes of a value _prep has made plain."""
    return json.dumps(prepared, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


class _NotPlain(Exception):
    pass


def _prep(value: Any) -> Any:
    """value with floats in the form RFC 8785 gives them, or _NotPlain if json cannot match it."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int:
        if -(2**53) < value < 2**53:
            return value
        raise _NotPlain
    if kind is float:
        if value.is_integer():
            if abs(value) < 2**53:
                return int(value)  # 1.0 -> 1, -0.0 -> 0, as ECMAScript prints them
            raise _NotPlain
        if 1e-4 <= abs(value) < 1e16:
            return value  # shortest round-trip digits, no exponent, in both languages
        raise _NotPlain
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                raise _NotPlain
            out[k] = v if type(v) is str or v is None else _prep(v)  # most values: no call
        return out
    if kind is list or kind is tuple:
        return [_prep(v) for v in value]
    raise _NotPlain


def row_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        seq, _, digest = text.partition(":")
        if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f'"{text}" is not a chain head of the form SEQ:HEX (64 hex digits)')
        return cls(int(seq), digest)


@dataclass(frozen=True)
class BadLine:
    file: str
    line: int
    reason: str


class EventLog:
    """archive/log/*.jsonl: read, check and append."""

    def __init__(self, archive: Path) -> None:
        self.dir = archive / "log"
        self._head: Head | None = None
        # Inside a batch, entries are held here and written and fsynced together by sync(): nothing
        # of them reaches the file before what they name (files, WARC records) has been synced.
        self.defer_sync = False
        self.last_line = b""
        self._held: list[tuple[Path, bytes]] = []
        self._month_file: tuple[str, Path] | None = None  # this month's file, its folder made

    def files(self) -> list[Path]:
        return sorted(self.dir.glob("*.jsonl")) if self.dir.is_dir() else []

    def read(self) -> Iterator[dict[str, Any] | BadLine]:
        """Every entry in file order; a line that is not a JSON object comes as BadLine."""
        for path in self.files():
            with open(path, "rb") as fh:
                for n, raw in enumerate(fh, 1):
                    try:
                        entry = json.loads(raw)
                    except ValueError:
                        yield BadLine(path.name, n, "not valid JSON")
                        continue
                    if not isinstance(entry, dict):
                        yield BadLine(path.name, n, "not a JSON object")
                        continue
                    yield entry

    def head(self) -> Head:
        """The last entry's seq and hash (GENESIS before the first entry)."""
        if self._head is None:
            last = self._last_entry()
            if last is None:  # the last line is damaged: take the last readable entry
                for entry in self.read():
                    if isinstance(entry, dict):
                        last = entry
            ok = last is not None and isinstance(last.get("seq"), int) and isinstance(last.get("hash"), str)
            self._head = Head(last["seq"], last["hash"]) if ok else Head(0, GENESIS)  # type: ignore[index]
        return self._head

    def _last_entry(self) -> dict[str, Any] | None:
        """The last line of the last file, read from its end (logs grow; runs should not slow down)."""
        files = self.files()
        if not files:
            return {}
        with open(files[-1], "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            block = b""
            pos = end
            while pos > 0 and block.count(b"\n") < 2:
                step = min(65536, pos)
                pos -= step
                fh.seek(pos)
                block = fh.read(step) + block
        lines = block.rstrip(b"\n").rsplit(b"\n", 1)
        try:
            entry = json.loads(lines[-1])
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None

    def line_count(self) -> int:
        """Lines in all log files, counted without parsing them."""
        total = 0
        for path in self.files():
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    total += chunk.count(b"\n")
        return total

    @property
    def held(self) -> int:
        """Entries appended in the batch and not yet written."""
        return len(self._held)

    def sync(self) -> None:
        """Write the entries held since the last sync, in order, and fsync them.

        On failure nothing of them stays in the file (a partly written run of lines is cut back),
        and the head is read again from what the file holds: the caller must drop the rows it
        applied for them (Archive.batch rolls its transaction back)."""
        held, self._held = self._held, []
        i = 0
        try:
            while i < len(held):
                path = held[i][0]
                j = i
                while j < len(held) and held[j][0] == path:  # a batch crossing a month writes two files
                    j += 1
                _write_lines(path, [line for _, line in held[i:j]])
                i = j
        except StoreError:
            self._head = None
            raise

    def repair_torn_tail(self) -> bytes:
        """Cut an incomplete last line (a write killed midway); it was never acknowledged."""
        files = self.files()
        if not files:
            return b""
        path = files[-1]
        with open(path, "r+b") as fh:
            end = fh.seek(0, os.SEEK_END)
            if end == 0 or _read_at(fh, end - 1, 1) == b"\n":
                return b""  # the common case, told by one byte: the log is not read on every open
            tail, start = b"", end
            while start > 0 and b"\n" not in tail:  # back to the last complete line, a block at a time
                step = min(1 << 16, start)
                start -= step
                tail = _read_at(fh, start, step) + tail
            cut = start + tail.rfind(b"\n") + 1
            torn = _read_at(fh, cut, end - cut)
            fh.truncate(cut)
            os.fsync(fh.fileno())
        self._head = None
        return torn

    def append(self, event: str, table: str | None = None, key: str | None = None,
               row: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """Append one entry durably (written and fsynced now, or by sync() in a batch) and return it."""
        head = self.head()
        entry: dict[str, Any] = {"seq": head.seq + 1, "time": utcnow(), "event": event}
        prow: Any = {}  # the row made plain for canonical JSON once: its hash, the entry's hash, the line
        if table is not None:
            try:
                prow = _prep(row or {})
                row_digest = hashlib.sha256(_dump(prow)).hexdigest()
            except (_NotPlain, UnicodeEncodeError):  # what json cannot write as RFC 8785 does (or refuses)
                prow, row_digest = None, row_hash(row or {})
            entry.update(table=table, key=key, row=row, row_hash=row_digest)
        entry.update(extra)
        entry["prev"] = head.hash
        try:
            if prow is None:
                raise _NotPlain
            prepared = _prep({k: v for k, v in entry.items() if k != "row"})
            if table is not None:
                prepared["row"] = prow if row is not None else None
            entry["hash"] = prepared["hash"] = hashlib.sha256(_dump(prepared)).hexdigest()
            line = _dump(prepared) + b"\n"
        except (_NotPlain, UnicodeEncodeError):  # the slow way, through rfc8785
            entry["hash"] = entry_hash(entry)
            line = canonical(entry) + b"\n"
        path = self._file_for(entry["time"][:7])
        self.last_line = line[:-1]  # the database's copy of the entry, without serialising it again
        if self.defer_sync:
            self._held.append((path, line))
        else:
            _write_lines(path, [line])
        self._head = Head(entry["seq"], entry["hash"])
        return entry

    def _file_for(self, month: str) -> Path:
        """The month's file; its folder is made when the month is first written in this process
        (not for every entry: a run appends thousands)."""
        if self._month_file is None or self._month_file[0] != month:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._month_file = (month, self.dir / f"{month}.jsonl")
        return self._month_file[1]


def _write_lines(path: Path, lines: list[bytes]) -> None:
    """Append whole lines to `path` and fsync; on failure cut the file back to where it was."""
    with open(path, "ab", buffering=0) as fh:  # unbuffered: nothing stale to flush after a failure
        before = fh.seek(0, os.SEEK_END)
        try:
            if faults.armed("mid_log"):  # kill tests: leave a torn line on disk, line by line
                for line in lines:
                    _write_all(fh, line[: len(line) // 2])
                    os.fsync(fh.fileno())
                    faults.point("mid_log")
                    _write_all(fh, line[len(line) // 2:])
            else:
                _write_all(fh, b"".join(lines))
            os.fsync(fh.fileno())
        except OSError as exc:
            # Take back a partly written line so the next entry does not follow a torn one.
            os.ftruncate(fh.fileno(), before)
            what = "nothing was recorded" if len(lines) == 1 else f"none of its {len(lines)} entries were recorded"
            raise StoreError(f"cannot append to the log {path}: {os_reason(exc)}; {what}") from exc


def _write_all(fh: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


REDUCED_KEYS = frozenset({"seq", "hash", "prev"})


def is_reduced(entry: dict[str, Any]) -> bool:
    """An entry cut down to {seq, hash, prev} (an evidence package's entries of other cases)."""
    return set(entry) == REDUCED_KEYS


def check_chain(entries: list[dict[str, Any] | BadLine], *, allow_reduced: bool = False) -> list[tuple[str, str]]:
    """Recompute the chain; return (subject, problem) for every break found.

    With allow_reduced, entries reduced to {seq, hash, prev} are taken at their word for their
    own hash (their content is not there to recompute it); the next entry's prev still has to
    match it, and a full entry's hash covers that prev, so the linkage is still checked.
    """
    problems: list[tuple[str, str]] = []
    prev_hash = GENESIS
    expected_seq = 1
    for entry in entries:
        if isinstance(entry, BadLine):
            problems.append((f"log {entry.file} line {entry.line}", entry.reason))
            continue
        seq = entry.get("seq")
        subject = f"log entry {seq}"
        if seq != expected_seq:
            problems.append((subject, f"sequence number {seq} where {expected_seq} was expected (entries deleted, inserted or reordered)"))
        if entry.get("prev") != prev_hash:
            problems.append((subject, "does not link to the previous entry's hash"))
        if allow_reduced and is_reduced(entry):
            if not isinstance(entry.get("hash"), str) or len(entry["hash"]) != 64:
                problems.append((subject, "reduced entry has no valid hash"))
        elif entry.get("hash") != entry_hash(entry):
            problems.append((subject, "content does not match its hash (entry edited)"))
        elif "row" in entry and entry.get("row_hash") != row_hash(entry.get("row") or {}):
            problems.append((subject, "row does not match its row_hash"))
        prev_hash = entry.get("hash", "")
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    return problems


def _read_at(fh: BinaryIO, offset: int, size: int) -> bytes:
    fh.seek(offset)
    return fh.read(size)
