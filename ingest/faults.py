"""Fault injection for kill tests: `point(name)` kills this process with SIGKILL when asked to.

Set KHRONIKA_FAULT=NAME to die at the first time the program passes the point NAME, or also
KHRONIKA_FAULT_AFTER=N to die at the N-th time. Without KHRONIKA_FAULT a point costs one
comparison. The points, in the order a capture passes them:

    after_file_store     a file is in files/, its row is not yet logged
    mid_warc             a response record is written, its request record is not
    before_group_sync    a group of sources is stored and applied to the open transaction;
                         none of its log entries is written yet (the next run redoes the group)
    mid_log              half of a log line is written and fsynced
    after_log_before_db  a log entry (in a group: the group's entries) is durable, its rows are
                         not committed
    mid_extraction       some extractions are recorded, others are still to come
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_file_store", "mid_warc", "before_group_sync", "mid_log", "after_log_before_db", "mid_extraction")

_FAULT = os.environ.get("KHRONIKA_FAULT") or None
_AFTER = int(os.environ.get("KHRONIKA_FAULT_AFTER") or 1)
_hits = 0


def armed(name: str) -> bool:
    """True when `name` is the point this process was told to die at (it may not be its turn yet)."""
    return _FAULT == name


def point(name: str) -> None:
    """Die here with SIGKILL if this is the requested point and its N-th hit."""
    global _hits
    if _FAULT is None or _FAULT != name:
        return
    _hits += 1
    if _hits >= _AFTER:
        os.kill(os.getpid(), signal.SIGKILL)
