"""An archive folder: its lock, its parts (files, WARCs, log, database) and recovery after a crash."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ingest import db as dbm
from ingest import faults
from ingest.errors import ArchiveError, ArchiveLocked, StoreError
from ingest.log import EventLog
from ingest.store import FileStore, fsync_dir, hash_file, os_reason

MARKER = "archive.db"


@dataclass
class Recovery:
    temporaries_removed: int = 0
    log_tail_discarded: int = 0
    warcs_closed: list[str] = field(default_factory=list)
    warcs_recorded: list[str] = field(default_factory=list)
    entries_replayed: int = 0

    def messages(self) -> list[str]:
        out = []
        if self.temporaries_removed:
            out.append(f"removed {self.temporaries_removed} temporary file(s) left by an interrupted run")
        if self.log_tail_discarded:
            out.append(f"discarded an incomplete last log line ({self.log_tail_discarded} bytes) left by an interrupted run")
        for name in self.warcs_closed:
            out.append(f"closed WARC {name} left open by an interrupted run")
        for name in self.warcs_recorded:
            out.append(f"recorded WARC {name} that an interrupted run closed but had not recorded")
        if self.entries_replayed:
            out.append(f"applied {self.entries_replayed} logged event(s) that an interrupted run had not yet written to the database")
        return out


class Archive:
    """Open with Archive.open(); use as a context manager to hold the write lock."""

    def __init__(self, root: Path, db: sqlite_utils.Database, lock_fd: int | None) -> None:
        self.root = root
        self.db = db
        self.store = FileStore(root)
        self.log = EventLog(root)
        self._lock_fd = lock_fd
        self._db_behind: str | None = None  # why the database stopped following the log
        self.recovery = Recovery()

    @classmethod
    def open(cls, root: Path, *, create: bool = False, write: bool = True, wait: float = 0.0) -> Archive:
        root = Path(root)
        rebuilding = not (root / MARKER).exists() and any((root / "log").glob("*.jsonl"))
        if not (root / MARKER).exists() and not rebuilding:
            if not create:
                raise ArchiveError(f"{root} is not a Khronika archive (no {MARKER}); run `python -m ingest run --archive {root}` first")
            if root.exists() and any(p.name not in ("README.md", ".lock") for p in root.iterdir()):
                raise ArchiveError(f"{root} is not empty and not a Khronika archive; refusing to write into it")
            root.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(root, wait) if write else None
        try:
            db = dbm.open_db(root / MARKER)
        except Exception:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        archive = cls(root, db, lock_fd)
        if write:
            archive.recover()
        return archive

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recording -------------------------------------------------------------------------

    def record(self, event: str, table: str | None = None, key: str | None = None,
               row: dict[str, Any] | None = None, extra: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Log an event durably, then apply it to the database in one transaction."""
        if self._db_behind:
            raise StoreError(f"the database fell behind the log after a failed write ({self._db_behind}); nothing "
                             "more is recorded in this run (the next run applies the logged events)")
        logged = dbm.logged_row(table, row) if table and row is not None else row
        entry = self.log.append(event, table, key, logged, **fields)
        faults.point("after_log_before_db")
        self._apply(entry, extra)
        return entry

    def _apply(self, entry: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        try:
            with self.db.conn:
                dbm.apply_entry(self.db, entry, extra)
        except sqlite3.OperationalError as exc:
            # The entry is durable in the log; later entries must not reach the database before it.
            self._db_behind = os_reason(exc)
            raise StoreError(f"cannot write to the database {self.root / MARKER}: {os_reason(exc)}; "
                             f"log entry {entry['seq']} is kept and applied by the next run") from exc

    # -- recovery --------------------------------------------------------------------------

    def recover(self) -> Recovery:
        rec = self.recovery
        rec.temporaries_removed = self.store.remove_temporaries()
        rec.log_tail_discarded = len(self.log.repair_torn_tail())
        # Replay first: closing a WARC logs a new entry, and replay only applies entries
        # after the database's last one, so an entry missing before it would be skipped for good.
        rec.entries_replayed = self.catch_up()
        rec.warcs_closed = self._close_open_warcs()
        rec.warcs_recorded = self._record_unrecorded_warcs()
        return rec

    def catch_up(self) -> int:
        """Apply logged entries the database does not have yet (a run killed between log and DB)."""
        have = {seq for (seq,) in self.db.execute("SELECT seq FROM log").fetchall()}
        count = 0
        for entry in self.log.read():
            if isinstance(entry, dict) and isinstance(entry.get("seq"), int) and entry["seq"] not in have:
                extra = self._replayed_text(entry) if entry.get("table") == "extractions" else None
                self._apply(entry, extra)
                count += 1
        return count

    def _replayed_text(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The text of a logged extraction (the log keeps only its hash), extracted again in a worker."""
        row = entry.get("row") or {}
        if not row.get("text_blake3") or not row.get("blake3") or not self.store.path(row["blake3"]).is_file():
            return None
        from ingest.workers import Job, run_jobs

        cap = self.db.execute("SELECT media_type, charset FROM captures WHERE blake3 = ? ORDER BY id LIMIT 1",
                              [row["blake3"]]).fetchone()
        media_type, charset = cap if cap else (None, None)
        if media_type is None:
            found = self.db.execute("SELECT media_type FROM files WHERE blake3 = ?", [row["blake3"]]).fetchone()
            media_type = found[0] if found else "application/octet-stream"
        for _, again in run_jobs([Job(row["blake3"], str(self.store.path(row["blake3"])), media_type, charset)]):
            if again.text is not None and again.text_blake3 == row["text_blake3"]:
                return {"text": again.text}
        return None  # left without text: verify reports the row's text as not matching its hash

    def _close_open_warcs(self) -> list[str]:
        closed = []
        warc_dir = self.root / "warc"
        for path in sorted(warc_dir.glob("*.warc.gz.open")) if warc_dir.is_dir() else []:
            _truncate_to_complete_members(path)
            final = path.with_name(path.name[: -len(".open")])
            os.replace(path, final)
            fsync_dir(warc_dir)
            closed.append(final.name)
            self._record_warc(final)
        return closed

    def _record_unrecorded_warcs(self) -> list[str]:
        """Record complete WARCs that a run closed but was killed before logging."""
        warc_dir = self.root / "warc"
        known = {r[0] for r in self.db.execute("SELECT name FROM warcs").fetchall()}
        found = []
        for path in sorted(warc_dir.glob("*.warc.gz")) if warc_dir.is_dir() else []:
            if path.name not in known:
                self._record_warc(path)
                found.append(path.name)
        return found

    def _record_warc(self, path: Path) -> None:
        b3, sha, size = hash_file(path)
        self.record("warc_completed", "warcs", path.name, {
            "name": path.name, "blake3": b3, "sha256": sha, "size": size, "records": _count_members(path),
            "warc_version": "WARC/1.1", "completed_at": None,
        })


def _lock(root: Path, wait: float) -> int:
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise ArchiveLocked(
                    f"{root} is in use by another Khronika process (lock {root / '.lock'}); "
                    "wait for it to finish, or pass --wait SECONDS"
                ) from None
            time.sleep(0.2)


def _members(data: bytes) -> list[int]:
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


def _truncate_to_complete_members(path: Path) -> None:
    data = path.read_bytes()
    ends = _members(data)
    keep = ends[-1] if ends else 0
    if keep != len(data):
        # The torn last member was never referenced by a committed row (rows come after the write).
        with open(path, "r+b") as fh:
            fh.truncate(keep)
            os.fsync(fh.fileno())


def _count_members(path: Path) -> int:
    return len(_members(path.read_bytes()))
