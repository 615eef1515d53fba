"""Group commit: one log fsync and one database commit per group of sources, or per second, whichever comes first.

A run records inside one long `Archive.batch()`; `GroupCommit.step()` is called after every
source and every extraction and syncs the batch (`Archive.sync`) once the group holds enough
sources or is old enough. What a group recorded reaches the log only at its sync, after the
files and WARC records it names are on disk, so a run killed mid-group loses that group alone:
its files stay in files/ unnamed, and the next run captures its sources again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ingest.errors import StoreError
from ingest.store.archive import Archive


@dataclass
class GroupCommit:
    archive: Archive
    sources: int = 64
    seconds: float = 1.0
    started: float = field(default_factory=time.monotonic)
    count: int = 0  # sources recorded in the open group
    members: list[int] = field(default_factory=list)  # the caller's indexes of what the group reported

    def step(self, source_done: bool = False, waiting: bool = False) -> tuple[list[int], StoreError] | None:
        """Sync when due, or before the caller waits on the network (`waiting`: nothing recorded
        stays unlogged through a long fetch). On a failed sync: the members of the group lost, and why."""
        self.count += source_done
        if not self.archive.in_batch:
            return None
        if waiting:
            if not self.archive.log.held:
                return None
        elif self.count < self.sources and time.monotonic() - self.started < self.seconds:
            return None
        lost = None
        try:
            self.archive.sync()
        except StoreError as exc:
            lost = (self.members, exc)
        self.started, self.count, self.members = time.monotonic(), 0, []
        return lost
