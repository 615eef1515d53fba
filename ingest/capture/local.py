"""Reading a local document safely: inside its case folder, never through a link, a regular file, under a size limit.

The case file is validated when the run starts, but a document is read later: between the two it
may be swapped for a symbolic link to a file elsewhere, a FIFO that never ends, or a file far
larger than anything meant. So each folder on the path is opened relative to the one before it
with O_NOFOLLOW|O_DIRECTORY, the document itself with O_NOFOLLOW|O_NONBLOCK (a FIFO then opens
without waiting for a writer), and what was opened is checked with fstat before a byte is read.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

MAX_LOCAL = 64 * 2**20  # like --max-body
CHUNK = 1 << 20


class LocalRefused(Exception):
    """The document cannot be read as evidence; str() says why, as a clause that follows its path
    ("docs/a.pdf is a FIFO (named pipe), not a regular file"), never naming the operator's folders.

    `outcome` is "refused" when reading it would break a rule (a link, not a regular file, too
    large) and "failed" when it is simply not there or cannot be read."""

    def __init__(self, reason: str, outcome: str = "refused") -> None:
        super().__init__(reason)
        self.outcome = outcome


@dataclass(frozen=True)
class Identity:
    """What fstat says of an opened document: a change to its bytes changes ctime at least
    (no program can set ctime), so the same identity twice means the same bytes, unless the
    change fell in the same tick of the clock as the identity was taken (see `settled`)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int
    taken_ns: int  # the wall clock when fstat was called

    @classmethod
    def of(cls, info: os.stat_result, taken_ns: int) -> Identity:
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, taken_ns)

    def same_file(self, other: Identity) -> bool:
        return (self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns) == \
            (other.dev, other.ino, other.size, other.mtime_ns, other.ctime_ns)

    @property
    def settled(self) -> bool:
        """Its last change was SETTLE_NS before it was taken. File times come from a coarse clock,
        so a write just after fstat can leave them as they were; an identity taken that soon after
        the last change is not trusted later (the document is read again), as git does with its index."""
        return max(self.mtime_ns, self.ctime_ns) < self.taken_ns - SETTLE_NS


SETTLE_NS = 2 * 10**9  # above any file system's time granularity in use (FAT: 2 s)


@dataclass(frozen=True)
class LocalFile:
    data: bytes
    mtime: str  # ISO 8601 UTC, from the opened file itself
    size: int
    identity: Identity | None = None  # taken before the first byte was read


_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFLNK: "a symbolic link"}


def kind_of(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def components(relpath: str) -> list[str]:
    """A relative POSIX path's components, as pathlib gives them ("" and "." left out), by plain
    string splitting: asked twice for every local source of every run."""
    return [p for p in relpath.split("/") if p and p != "."]


def parts_of(relpath: str) -> list[str]:
    """The path's components, refused if it could leave the folder or name nothing."""
    if "\x00" in relpath:
        raise LocalRefused("contains a NUL character")
    if relpath.startswith(("/", "\\")):
        raise LocalRefused("is absolute")
    parts = components(relpath)
    if not parts:
        raise LocalRefused("names no file")
    if ".." in parts:
        raise LocalRefused('contains ".."')
    return parts


def _open_nofollow(name: str, flags: int, dir_fd: int, what: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LocalRefused(f"{what} a symbolic link; documents are read without following links") from None
        if exc.errno == errno.ENOTDIR:  # O_DIRECTORY on a link says ENOTDIR, not ELOOP: tell them apart
            try:
                link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            except OSError:
                link = False
            raise LocalRefused(f"{what} a symbolic link; documents are read without following links" if link
                               else f"{what} not a folder") from None
        if exc.errno == errno.ENOENT:
            raise LocalRefused(f"{what} missing", "failed") from None
        raise LocalRefused(f"cannot be opened ({exc.strerror or exc})", "failed") from None


class Folders:
    """Folders below case folders, each opened once (as `open_document` opens them: relative to
    the one above, no link followed) and kept open until `close`: a run opens a document for every
    local source, and most share a folder, so each open is one openat instead of one per folder
    on the path. At most MAX_OPEN are kept; the least recently used is closed first."""

    MAX_OPEN = 64

    def __init__(self) -> None:
        self._fds: OrderedDict[tuple[str, tuple[str, ...]], int] = OrderedDict()

    def __enter__(self) -> Folders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])

    def open(self, folder: Path, parts: list[str]) -> int:
        """A new fd of the folder `parts` inside `folder` (the caller closes it)."""
        key = (str(folder), tuple(parts))
        fd = self._fds.get(key)
        if fd is None:
            fd = _open_folder(folder, parts)
            self._fds[key] = fd
            if len(self._fds) > self.MAX_OPEN:
                os.close(self._fds.popitem(last=False)[1])
        else:
            self._fds.move_to_end(key)
        return os.dup(fd)


def _open_folder(folder: Path, parts: list[str]) -> int:
    """An fd of the folder `parts` (the path's folders, the document's name left out) inside `folder`."""
    try:
        # The case folder itself is the operator's to name, links and all; below it, nothing is followed.
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise LocalRefused(f"cannot be opened (its case file's folder: {exc.strerror or exc})", "failed") from None
    for i, name in enumerate(parts):
        where = "/".join(parts[: i + 1])
        try:
            nxt = _open_nofollow(name, os.O_RDONLY | os.O_DIRECTORY, fd, f'is inside "{where}", which is')
        finally:
            os.close(fd)
        fd = nxt
    return fd


def _open_regular(folder: Path, relpath: str, folders: Folders | None) -> tuple[int, os.stat_result]:
    """An fd of the regular file `relpath` inside `folder` and what fstat said of it, still non-blocking."""
    parts = parts_of(relpath)
    fd = folders.open(folder, parts[:-1]) if folders is not None else _open_folder(folder, parts[:-1])
    try:
        doc = _open_nofollow(parts[-1], os.O_RDONLY | os.O_NONBLOCK, fd, "is")
    finally:
        os.close(fd)
    info = os.fstat(doc)
    if not stat.S_ISREG(info.st_mode):
        os.close(doc)
        raise LocalRefused(f"is {kind_of(info.st_mode)}, not a regular file")
    return doc, info


def open_document(folder: Path, relpath: str, folders: Folders | None = None) -> int:
    """An fd of the regular file `relpath` inside `folder`, no link followed on the way; else LocalRefused."""
    doc, _ = _open_regular(folder, relpath, folders)
    os.set_blocking(doc, True)
    return doc


def identity_of(folder: Path, relpath: str, folders: Folders | None = None) -> Identity:
    """The document's identity, opened as `read_document` opens it (no link followed), not read."""
    taken = time.time_ns()
    fd, info = _open_regular(folder, relpath, folders)
    os.close(fd)
    return Identity.of(info, taken)


def read_document(folder: Path, relpath: str, max_bytes: int = MAX_LOCAL, folders: Folders | None = None) -> LocalFile:
    """The whole document, read while counting: refused the moment it passes `max_bytes`."""
    fd = open_document(folder, relpath, folders)
    try:
        taken = time.time_ns()
        info = os.fstat(fd)
        if info.st_size > max_bytes:
            raise LocalRefused(f"is {info.st_size} bytes, over {max_bytes} (limit --max-local)")
        buf = bytearray()
        while chunk := os.read(fd, CHUNK):
            buf += chunk
            if len(buf) > max_bytes:  # it grew while being read
                raise LocalRefused(f"grew past {max_bytes} bytes while being read (limit --max-local)")
    except OSError as exc:
        raise LocalRefused(f"cannot be read ({exc.strerror or exc})", "failed") from None
    finally:
        os.close(fd)
    mtime = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return LocalFile(bytes(buf), mtime, len(buf), Identity.of(info, taken))
