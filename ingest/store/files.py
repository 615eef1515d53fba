"""Content-addressed file store: each distinct body once under files/<2 hex>/<blake3>, never rewritten."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import blake3

from ingest.errors import StoreError

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    blake3: str
    sha256: str
    size: int
    relpath: str  # relative to the archive root, e.g. files/77/77ec5b...
    new: bool  # False when identical bytes were already stored


def blake3_of(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def hash_file(path: Path | str) -> tuple[str, str, int]:
    """BLAKE3 and SHA-256 hex digests and size of a file, read in chunks."""
    b3 = blake3.blake3()
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            b3.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return b3.hexdigest(), sha.hexdigest(), size


def relpath_for(digest: str) -> str:
    return f"files/{digest[:2]}/{digest}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(target: Path, data: bytes, sync_dir: bool = True) -> None:
    """Write data to target through a temporary file, fsync and rename; never leaves a partial target.

    With sync_dir False the caller fsyncs the folder itself (once for many files) before
    anything refers to the file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {os_reason(exc)}; nothing already archived was changed") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        if sync_dir:
            fsync_dir(target.parent)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise StoreError(f"cannot write {target}: {os_reason(exc)}; nothing already archived was changed") from exc


def os_reason(exc: BaseException) -> str:
    """A failed write's cause in words; "disk full" whenever the device or a quota is out of space."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if "full" in str(exc).lower():  # sqlite3: "database or disk is full"
        return "disk full"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


class FileStore:
    """The files/ folder of an archive."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.defer_dir_sync = False  # in a batch: the folders are synced by sync_dirs(), before the log
        self._unsynced_dirs: set[Path] = set()

    def path(self, digest: str) -> Path:
        return self.archive / relpath_for(digest)

    def put(self, data: bytes, blake3_hex: str | None = None) -> StoredFile:
        """Store data once; `blake3_hex`, when the caller has hashed data already, saves hashing it again."""
        digest = blake3_hex or blake3_of(data)
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            # Identical bytes are already evidence; a rewrite could only damage them.
            return StoredFile(digest, sha, len(data), relpath_for(digest), new=False)
        write_atomic(target, data, sync_dir=not self.defer_dir_sync)
        if self.defer_dir_sync:
            self._unsynced_dirs.add(target.parent)
        return StoredFile(digest, sha, len(data), relpath_for(digest), new=True)

    def sync_dirs(self) -> None:
        """fsync the folders that got new files since the last call (their names are then durable)."""
        for folder in sorted(self._unsynced_dirs):
            try:
                fsync_dir(folder)
            except OSError as exc:
                raise StoreError(f"cannot sync {folder}: {os_reason(exc)}; nothing since the last sync was recorded") from exc
        self._unsynced_dirs.clear()

    def remove_temporaries(self) -> int:
        """Delete temporary files a killed process left behind; they were never evidence."""
        count = 0
        files = self.archive / "files"
        if files.is_dir():
            for tmp in files.glob("*/.tmp-*"):
                tmp.unlink(missing_ok=True)
                count += 1
        return count
