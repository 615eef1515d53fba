"""Processes as Linux's /proc shows them: the one reader behind the browser stages' kills and the bench's memory figures."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str  # R, S, D, Z (a zombie: ended, not yet reaped), ...
    name: str  # the kernel's command name (at most 15 characters)
    rss: int  # resident bytes


def processes() -> list[Proc]:
    """Every process /proc shows now (none where there is no /proc); one that ends while it is read is left out."""
    page = os.sysconf("SC_PAGE_SIZE")
    out: list[Proc] = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else []:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            # The command name may hold spaces and parentheses: it runs to the last ")".
            name = stat[stat.index(b"(") + 1:stat.rindex(b")")].decode(errors="replace")
            fields = stat[stat.rindex(b")") + 2:].split()
            out.append(Proc(int(entry.name), int(fields[1]), int(fields[2]), fields[0].decode(), name,
                            int(fields[21]) * page))
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(roots: Iterable[int], table: list[Proc]) -> list[Proc]:
    """The processes descended from any of `roots` (the roots themselves left out)."""
    children: dict[int, list[Proc]] = {}
    for p in table:
        children.setdefault(p.ppid, []).append(p)
    found: dict[int, Proc] = {}
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child.pid not in found:
                found[child.pid] = child
                todo.append(child.pid)
    return list(found.values())


def program(pid: int) -> str:
    """The first word of a process's command line ("" when it has ended or has none)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return ""


def pss(pid: int) -> int:
    """A process's proportional set size in bytes: its resident pages, each shared page divided by
    the processes sharing it (so a tree's sum does not count a browser's shared pages once per
    process, as a sum of RSS does); 0 when it has ended or the kernel does not say."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
