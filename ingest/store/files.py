"""Content-addressed file store: each distinct body once under files/<2 hex>/<blake3>, never rewritten."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


def write_atomic(target: Path, data: bytes, sync_dir: bool = True, sync_file: bool = True) -> None:
    """Write data to target through a temporary file, fsync and rename; never leaves a partial target.

    With sync_dir False the caller fsyncs the folder itself (once for many files) before
    anything refers to the file; with sync_file False it fsyncs the file too (FileStore.sync_dirs)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {os_reason(exc)}; nothing already archived was changed") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync_file:
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


def _matches(path: Path, digest: str) -> bool:
    try:
        return hash_file(path)[0] == digest
    except OSError:
        return False


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

    def __init__(self, archive: Path, is_named: Callable[[str], bool] | None = None) -> None:
        self.archive = archive
        # In a batch, new files and their folders are fsynced together by sync_dirs(), before the log
        # entries naming them are written: one source's capture no longer waits on two fsyncs.
        self.defer_dir_sync = False
        self._unsynced_dirs: set[Path] = set()
        self._unsynced_files: list[Path] = []
        # Whether a log entry names a stored file (the archive's files table). A file no entry names
        # is no evidence yet: a crash may have left it renamed but never synced, so its bytes are
        # checked before it is trusted (see put()).
        self.is_named = is_named

    def path(self, digest: str) -> Path:
        return self.archive / relpath_for(digest)

    def put(self, data: bytes, blake3_hex: str | None = None) -> StoredFile:
        """Store data once; `blake3_hex`, when the caller has hashed data already, saves hashing it again."""
        digest = blake3_hex or blake3_of(data)
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        deferred = self.defer_dir_sync
        if target.exists():
            # A file a log entry names is evidence: kept as it is, a rewrite could only damage it
            # (`verify` reports one that no longer matches). One no entry names may be what a killed
            # run left, renamed into place but perhaps never synced: kept only if its bytes match its
            # name, and then synced before any entry names it; otherwise it was never evidence and is
            # written again below.
            named = self.is_named is None or self.is_named(digest)
            if named or _matches(target, digest):
                if not named:
                    self._unsynced_files.append(target)
                    self._unsynced_dirs.add(target.parent)
                    if not deferred:
                        self.sync_dirs()
                return StoredFile(digest, sha, len(data), relpath_for(digest), new=False)
        write_atomic(target, data, sync_dir=not deferred, sync_file=not deferred)
        if deferred:
            self._unsynced_dirs.add(target.parent)
            self._unsynced_files.append(target)
        return StoredFile(digest, sha, len(data), relpath_for(digest), new=True)

    def sync_dirs(self) -> None:
        """fsync the files stored and the folders that got them since the last call (their bytes and
        names are then durable), the fsyncs side by side: the disk can take them in one journal commit."""
        files, folders = list(self._unsynced_files), sorted(self._unsynced_dirs)

        def sync(path: Path) -> None:
            try:
                if path.is_dir():
                    fsync_dir(path)
                else:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:
                raise StoreError(f"cannot sync {path}: {os_reason(exc)}; nothing since the last sync was recorded") from exc

        for batch in (files, folders):  # the files' bytes before the names that point at them
            if len(batch) <= 2:
                for path in batch:
                    sync(path)
            elif batch:
                with ThreadPoolExecutor(max_workers=min(8, len(batch))) as pool:
                    list(pool.map(sync, batch))  # re-raises the first StoreError
        self._unsynced_files.clear()
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
