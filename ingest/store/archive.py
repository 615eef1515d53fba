"""An archive folder: its lock, its parts (files, WARCs, log, database) and recovery after a crash."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ingest import faults
from ingest.errors import ArchiveError, ArchiveLocked, StoreError
from ingest.store import db as dbm
from ingest.store.files import FileStore, fsync_dir, hash_file, os_reason
from ingest.store.log import EventLog
from ingest.store.warcs import (
    CompletedWarc,
    count_members,
    truncate_to_complete_members,
)

MARKER = "archive.db"


@dataclass
class Recovery:
    temporaries_removed: int = 0
    log_tail_discarded: int = 0
    warcs_closed: list[str] = field(default_factory=list)
    warcs_recorded: list[str] = field(default_factory=list)
    entries_replayed: int = 0
    texts_restored: int = 0
    texts_not_restored: list[str] = field(default_factory=list)

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
        if self.texts_restored:
            out.append(f"restored the text of {self.texts_restored} extraction(s) from the archived files")
        out.extend(self.texts_not_restored)
        return out


class Archive:
    """Open with Archive.open(); use as a context manager to hold the write lock."""

    def __init__(self, root: Path, db: sqlite_utils.Database, lock_fd: int | None) -> None:
        self.root = root
        self.db = db
        self.store = FileStore(root, is_named=lambda digest: dbm.file_known(db, digest))
        self.log = EventLog(root)
        self._lock_fd = lock_fd
        self._db_behind: str | None = None  # why the database stopped following the log
        self._broken: str | None = None  # why a batch's sync failed: nothing more is recorded
        self._batch_depth = 0
        self.before_sync: list[Callable[[], None]] = []  # fsync what log entries will name (a run's WARC)
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
            dbm.reindex_texts(db)  # an index made before stems (or by another stemmer) is made again
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
        """Log an event durably, then apply it to the database (in a batch: both at its next sync)."""
        if self._db_behind:
            raise StoreError(f"the database fell behind the log after a failed write ({self._db_behind}); nothing "
                             "more is recorded in this run (the next run applies the logged events)")
        if self._broken:
            raise StoreError(self._broken)
        logged = dbm.logged_row(table, row) if table and row is not None else row
        entry = self.log.append(event, table, key, logged, **fields)
        if not self._batch_depth:
            faults.point("after_log_before_db")
        self._apply(entry, extra, self.log.last_line)
        return entry

    def _apply(self, entry: dict[str, Any], extra: dict[str, Any] | None = None, line: bytes | None = None) -> None:
        try:
            if self._batch_depth:
                dbm.apply_entry(self.db, entry, extra, line)  # committed when the batch syncs
            else:
                with self.db.conn:
                    dbm.apply_entry(self.db, entry, extra, line)
        except sqlite3.OperationalError as exc:
            # The entry is (or, in a batch, will be) durable in the log; later entries must not reach
            # the database before it.
            if self.db.conn.in_transaction:
                self.db.conn.rollback()
            self._db_behind = os_reason(exc)
            raise StoreError(f"cannot write to the database {self.root / MARKER}: {os_reason(exc)}; "
                             f"log entry {entry['seq']} is kept and applied by the next run") from exc

    @property
    def in_batch(self) -> bool:
        return self._batch_depth > 0

    def commit(self) -> None:
        """Commit derived columns now, unless a batch commits them with its log entries."""
        if not self._batch_depth and self.db.conn.in_transaction:
            self.db.conn.commit()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Record several events with one log fsync and one database commit (and more, with sync()).

        Rows are applied at once (in one open transaction) and log entries held in memory. At
        the end, or at each sync(): the folders of newly stored files and every before_sync hook
        (the run's WARC) are fsynced, then the held entries are written and fsynced, then the
        rows are committed. So nothing in the log names a file or record not yet on disk, and a
        run killed in between loses at most what it recorded since the last sync, which the
        next run does again.
        """
        if self._batch_depth:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
            return
        self._batch_depth = 1
        self.log.defer_sync = True
        self.store.defer_dir_sync = True
        self._begin()
        try:
            yield
        finally:
            try:
                self._sync()
            finally:
                self._batch_depth = 0
                self.log.defer_sync = False
                self.store.defer_dir_sync = False

    def _begin(self) -> None:
        # An explicit transaction: sqlite-utils commits any write made outside one at once, which
        # would put rows in the database before the log entries they come from are written.
        if not self.db.conn.in_transaction:
            self.db.conn.execute("BEGIN")

    def sync(self) -> None:
        """Make everything the open batch recorded so far durable now, and go on batching."""
        if self._batch_depth:
            self._sync()
            self._begin()

    def _sync(self) -> None:
        """Stored files' folders and every before_sync hook, then the held log entries, then the rows."""
        if self._broken:
            raise StoreError(self._broken)
        held = self.log.held
        if held:
            faults.point("before_group_sync")
        try:
            self.store.sync_dirs()
            for hook in self.before_sync:
                hook()
            self.log.sync()
        except (StoreError, OSError) as exc:
            if self.db.conn.in_transaction:
                self.db.conn.rollback()
            reason = str(exc) if isinstance(exc, StoreError) else (
                f"cannot sync the archive {self.root}: {os_reason(exc)}; nothing since the last sync was recorded")
            # What was applied for the lost entries is rolled back; nothing more is recorded in this run.
            self._broken = f"an earlier write failed ({reason}); nothing more is recorded in this run"
            raise StoreError(reason) from exc
        if held:
            faults.point("after_log_before_db")
        if self.db.conn.in_transaction and not self._db_behind:
            try:
                self.db.conn.commit()
            except sqlite3.OperationalError as exc:
                self.db.conn.rollback()
                self._db_behind = os_reason(exc)
                raise StoreError(f"cannot write to the database {self.root / MARKER}: {os_reason(exc)}; "
                                 "the logged events are applied by the next run") from exc

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
        rec.texts_restored, rec.texts_not_restored = self.restore_texts()
        return rec

    def restore_texts(self, workers: int = 1) -> tuple[int, list[str]]:
        """Re-extract texts the database lacks: the log keeps only a text's hash, so a replayed
        or rebuilt extraction row has none. A text is kept only if its hash matches the log's."""
        from ingest.text.workers import Job, run_jobs

        rows = list(self.db.query(
            "SELECT e.id, e.blake3, e.extractor, e.extractor_version, e.text_blake3, f.media_type, "
            "coalesce((SELECT charset FROM captures c WHERE c.blake3 = e.blake3 ORDER BY c.id LIMIT 1), "
        "(SELECT charset FROM witness_captures w WHERE w.blake3 = e.blake3 ORDER BY w.id LIMIT 1)) AS charset "
            "FROM extractions e JOIN files f ON f.blake3 = e.blake3 "
            "WHERE e.text IS NULL AND e.error IS NULL AND e.text_blake3 IS NOT NULL ORDER BY e.id"))
        rows = [r for r in rows if self.store.path(r["blake3"]).is_file()]
        by_key = {str(r["id"]): r for r in rows}
        jobs = [Job(str(r["id"]), str(self.store.path(r["blake3"])), r["media_type"], r["charset"],
                    reader="telegram" if r["extractor"] == "telegram" else None) for r in rows]
        restored, failed = 0, []
        for job, ex in run_jobs(jobs, workers=workers):
            row = by_key[job.key]
            if ex.text is not None and ex.text_blake3 == row["text_blake3"]:
                with self.db.conn:
                    self.db.execute("UPDATE extractions SET text = ? WHERE id = ?", [ex.text, row["id"]])
                    dbm.index_text(self.db, row["id"], ex.title, ex.text)
                restored += 1
            else:
                got = f"an error: {ex.error}" if ex.error else "a different text"
                failed.append(f"text of extraction {row['id']} ({row['blake3'][:12]}) not restored: "
                              f"{ex.extractor} {ex.extractor_version} gives {got} "
                              f"(recorded: {row['extractor']} {row['extractor_version']})")
        return restored, failed

    def catch_up(self) -> int:
        """Apply logged entries the database does not have yet (a run killed between log and DB)."""
        count, top = self.db.execute("SELECT count(*), coalesce(max(seq), 0) FROM log").fetchone()
        head = self.log.head()
        if count == top == head.seq == self.log.line_count():
            last = self.db.execute("SELECT hash FROM log WHERE seq = ?", [top]).fetchone()
            if top == 0 or (last and last[0] == head.hash):
                return 0  # the database holds every entry 1..N and the same last one
        have = {seq for (seq,) in self.db.execute("SELECT seq FROM log").fetchall()}
        count = 0
        for entry in self.log.read():
            if isinstance(entry, dict) and isinstance(entry.get("seq"), int) and entry["seq"] not in have:
                self._apply(entry)
                count += 1
        return count

    def _close_open_warcs(self) -> list[str]:
        closed = []
        warc_dir = self.root / "warc"
        for path in sorted(warc_dir.glob("*.warc.gz.open")) if warc_dir.is_dir() else []:
            truncate_to_complete_members(path)
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
        """Record a WARC that recovery found complete; when it was completed is not known."""
        b3, sha, size = hash_file(path)
        self.record_warc(CompletedWarc(path.name, b3, sha, size, count_members(path)), None)

    def record_warc(self, warc: CompletedWarc, completed_at: str | None) -> None:
        self.record("warc_completed", "warcs", warc.name, {
            "name": warc.name, "blake3": warc.blake3, "sha256": warc.sha256, "size": warc.size,
            "records": warc.records, "warc_version": "WARC/1.1", "completed_at": completed_at,
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
