"""Leaving an unchanged local document unread: its identity now against the one kept when it was last read.

A plain run reads and hashes a local document only when fstat says something about it changed
since it was last read (size, mtime_ns, inode, device or ctime; a change to the bytes changes
ctime, which no program can set back) or when that last reading was too close to the document's
last change to be trusted (`Identity.settled`). `run --rehash` and `--refresh` read every
document again; `verify` re-hashes every archived file regardless. What is kept
(`local_files`) is a cache of this machine's file system, not evidence: it is never logged or
published, and without it a run simply reads again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.capture.local import Folders, Identity, LocalRefused, identity_of

COLUMNS = ("path", "dev", "ino", "size", "mtime_ns", "ctime_ns", "taken_ns", "blake3")


@dataclass(frozen=True, slots=True)
class Kept:
    """What `local_files` keeps of a source: the path read, fstat's identity then, the BLAKE3 read."""

    path: str
    identity: Identity
    blake3: str


def kept(db: Any, case_id: str) -> dict[str, Kept]:
    """The kept identity of every local source of the case, by source id (one query for the case)."""
    rows = db.execute(f"SELECT source_id, {', '.join(COLUMNS)} FROM local_files WHERE source_id IN "
                      "(SELECT id FROM sources WHERE case_id = ?)", [case_id]).fetchall()
    return {sid: Kept(path, Identity(dev, ino, size, mtime_ns, ctime_ns, taken_ns), blake3)
            for sid, path, dev, ino, size, mtime_ns, ctime_ns, taken_ns, blake3 in rows}


def still_unchanged(kept: Kept, path: str, latest_blake3: str, folder: Path, relpath: str,
                    folders: Folders | None = None) -> bool:
    """True when the document at `relpath` is, by fstat, the very file last read as `latest_blake3`."""
    if kept.blake3 != latest_blake3 or kept.path != path:
        return False  # read as another capture, or the case file names another path now
    if not kept.identity.settled:
        return False
    try:
        now = identity_of(folder, relpath, folders)
    except LocalRefused:
        return False  # reading it says why, as a failed or refused attempt
    return now.same_file(kept.identity)


def remember(db: Any, source_id: str, path: str, identity: Identity | None, blake3: str) -> None:
    """Keep what fstat said before the bytes hashed as `blake3` were read (in the caller's transaction)."""
    if identity is None:
        return
    db.execute(f"INSERT OR REPLACE INTO local_files (source_id, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [source_id, path, identity.dev, identity.ino, identity.size, identity.mtime_ns, identity.ctime_ns,
                identity.taken_ns, blake3])
