"""Reading a bag someone else made: bounded unzipping, every path kept inside the bag, every file listed.

A bag is hostile input. Its zip may expand to far more than it weighs or name paths outside the
folder it is unpacked into; its database, signature and tag files name the files to read, and
any of those names may be `../../../../etc/hostname`; a bag folder may hold links or FIFOs.
Nothing here follows a link, opens a file that is not a regular file inside the bag, or unpacks
more than the limits below.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 100_000  # a bag holds a few files per source; this is far more than any case needs
MAX_EXPANDED = 8 * 2**30  # bytes, all members together, as actually decompressed
MAX_RATIO = 100  # expanded bytes per byte of zip, once past RATIO_FREE
RATIO_FREE = 64 * 2**20  # below this, any ratio is allowed (a small bag of zeros is harmless)
CHUNK = 1 << 20
S_IFLNK = 0o120000


class BagPathError(ValueError):
    """A path taken from a bag that does not name a regular file inside it."""


class UnsafeZip(ValueError):
    """A zip that is refused before or while unpacking it (the message says which limit or member)."""


def _unsafe_name(name: str) -> str | None:
    if not name or "\x00" in name:
        return "empty name or NUL byte"
    if "\\" in name:
        return "backslash in name"
    p = PurePosixPath(name)
    if p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in p.parts:
        return "'..' in path"
    return None


def unzip_bag(archive: Path, into: Path, *, max_members: int = MAX_MEMBERS, max_expanded: int = MAX_EXPANDED,
              max_ratio: int = MAX_RATIO) -> Path:
    """Unpack a zipped bag into `into` within the limits; return the bag folder inside.

    UnsafeZip names the member or the limit: a path escaping the folder (absolute, `..`), a
    symbolic link, too many members, or more expanded bytes than allowed (counted as they are
    decompressed, not as the zip's headers claim)."""
    zip_size = max(archive.stat().st_size, 1)
    budget = min(max_expanded, max(RATIO_FREE, max_ratio * zip_size))
    why_budget = (f"more than {max_expanded} bytes (the limit)" if budget == max_expanded else
                  f"more than {max_ratio} times its {zip_size} bytes")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeZip(f"{archive}: not a readable zip ({exc})") from None
    with zf:
        members = zf.infolist()
        if len(members) > max_members:
            raise UnsafeZip(f"{archive}: {len(members)} members, more than the {max_members} allowed")
        for m in members:
            why = _unsafe_name(m.filename)
            if why is not None:
                raise UnsafeZip(f"{archive}: unsafe path in zip: {m.filename!r} ({why})")
            if (m.external_attr >> 16) & 0o170000 == S_IFLNK:
                raise UnsafeZip(f"{archive}: symbolic link in zip: {m.filename!r}")
        claimed = sum(m.file_size for m in members)
        if claimed > budget:
            raise UnsafeZip(f"{archive}: would expand to {claimed} bytes, {why_budget}")
        written = 0
        root = into.resolve()
        for m in members:
            target = root.joinpath(*PurePosixPath(m.filename).parts)
            if m.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(m) as src, open(target, "xb") as dst:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > budget:
                            raise UnsafeZip(f"{archive}: expands to {why_budget} (stopped at {m.filename!r})")
                        dst.write(chunk)
            except FileExistsError:
                raise UnsafeZip(f"{archive}: member {m.filename!r} appears twice") from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
                raise UnsafeZip(f"{archive}: member {m.filename!r} is unreadable ({exc})") from None
    if (into / "bagit.txt").is_file():
        return into
    tops = [p for p in into.iterdir() if p.is_dir() and (p / "bagit.txt").is_file()]
    if len(tops) != 1:
        raise UnsafeZip(f"{archive}: no single bag (folder with bagit.txt) inside the zip")
    return tops[0]


def in_bag(bag: Path, rel: str) -> Path:
    """The path of the regular file `rel` names inside the bag, following no link.

    BagPathError when `rel` is absolute or climbs out (`..`), when any part of it is a link, or
    when it is not a regular file (a folder, a FIFO, a device); FileNotFoundError when absent."""
    why = _unsafe_name(rel)
    if why is not None:
        raise BagPathError(f"{rel!r} is not a path inside the bag ({why})")
    path = bag
    parts = PurePosixPath(rel).parts
    for i, part in enumerate(parts):
        path = path / part
        st = os.lstat(path)  # FileNotFoundError propagates: the file is missing
        if stat.S_ISLNK(st.st_mode):
            raise BagPathError(f"{'/'.join(parts[:i + 1])} is a symbolic link; nothing is read through it")
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            raise BagPathError(f"{'/'.join(parts[:i + 1])} is not a folder")
    if not stat.S_ISREG(st.st_mode):
        raise BagPathError(f"{rel} is not a regular file")
    return path


@dataclass(frozen=True)
class Entry:
    rel: str  # bag-relative POSIX path
    problem: str | None  # None for a regular file; else why it is not one


def every_entry(bag: Path) -> list[Entry]:
    """Every file, link and special file anywhere in the bag (hidden ones too), sorted, following no link."""
    out: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(bag, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                out.append(Entry((base / name).relative_to(bag).as_posix(), _describe(base / name)))
        dirnames[:] = sorted(d for d in dirnames if not (base / d).is_symlink())
        for name in sorted(filenames):
            p = base / name
            st = os.lstat(p)
            out.append(Entry(p.relative_to(bag).as_posix(), None if stat.S_ISREG(st.st_mode) else _describe(p)))
    return sorted(out, key=lambda e: e.rel)


def _describe(path: Path) -> str:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return f"a symbolic link (to {os.readlink(path)}); a bag holds regular files only, nothing was read through it"
    if stat.S_ISFIFO(st.st_mode):
        return "a FIFO; a bag holds regular files only, it was not opened"
    return "not a regular file; a bag holds regular files only, it was not opened"
