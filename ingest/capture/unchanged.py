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

from pathlib import Path
from typing import Any

from ingest.capture.local import Identity, LocalRefused, identity_of

COLUMNS = ("path", "dev", "ino", "size", "mtime_ns", "ctime_ns", "taken_ns", "blake3")


def still_unchanged(db: Any, source_id: str, path: str, latest_blake3: str, folder: Path, relpath: str) -> bool:
    """True when the document at `relpath` is, by fstat, the very file last read as `latest_blake3`."""
    row = db.execute(f"SELECT {', '.join(COLUMNS)} FROM local_files WHERE source_id = ?", [source_id]).fetchone()
    if row is None:
        return False
    kept = dict(zip(COLUMNS, row, strict=True))
    if kept["blake3"] != latest_blake3 or kept["path"] != path:
        return False  # read as another capture, or the case file names another path now
    before = Identity(kept["dev"], kept["ino"], kept["size"], kept["mtime_ns"], kept["ctime_ns"], kept["taken_ns"])
    if not before.settled:
        return False
    try:
        now = identity_of(folder, relpath)
    except LocalRefused:
        return False  # reading it says why, as a failed or refused attempt
    return now.same_file(before)


def remember(db: Any, source_id: str, path: str, identity: Identity | None, blake3: str) -> None:
    """Keep what fstat said before the bytes hashed as `blake3` were read (in the caller's transaction)."""
    if identity is None:
        return
    db.execute(f"INSERT OR REPLACE INTO local_files (source_id, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [source_id, path, identity.dev, identity.ino, identity.size, identity.mtime_ns, identity.ctime_ns,
                identity.taken_ns, blake3])
