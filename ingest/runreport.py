"""What one ingest run came to: each source's result and the run's closing report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.store.log import Head

# What a source came to in this run, as counted in the closing summary.
NEW, UNCHANGED, KEPT, FAILED, WANTED = "new", "unchanged", "kept", "failed", "wanted"


@dataclass(frozen=True)
class SourceResult:
    source_id: str
    state: str  # new | unchanged | kept | failed | wanted
    detail: str


@dataclass
class RunReport:
    results: list[SourceResult] = field(default_factory=list)
    extraction_failures: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # "source: reason": captures without the page's text
    notes: list[str] = field(default_factory=list)
    head: Head | None = None
    warc: str | None = None
    claims: dict[str, int] = field(default_factory=dict)
    # What claims/standing found: drift counts, claims not sourced, drift changes (see Standing).
    drift: dict[str, int] = field(default_factory=dict)
    not_sourced: list[tuple[str, str, str]] = field(default_factory=list)
    drift_changes: list[tuple[str, str, str, str | None, str | None]] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for r in self.results if r.state == state)

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.state == FAILED]


Progress = Callable[[SourceResult], None]
