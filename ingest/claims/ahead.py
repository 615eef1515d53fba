"""The claim phase's work done ahead, in a run's idle time while its workers extract.

What the claim phase computes from a text alone can be computed as soon as the text is
recorded: each citation's anchor in the text of the source it cites (`status.warm_anchor`) and,
for independent origins, the text's attribution phrases (`origins.warm_attributions`). Both are
pure functions of what they are given, kept in memory for the claim phase to take.

When nothing is captured after the extractions (no browser pass over incomplete pages), more
is done ahead. The claims' own rows are recorded at once, in the case's order (they depend on
no source). A source is settled once nothing more can come of it in this run (captured anew and
extracted, with no OCR to come): its citations are then
anchored whole, capture chosen (`status.warm_citation`), and a claim whose cited sources are
all settled has its citations recorded, in their order, and its status set. All of it is
recorded as the claim phase records it, in the run's open group of log entries; the claim phase
leaves those claims as they are and records the rest. A source without a new capture
(unchanged, kept, failed) is never settled: an earlier capture of it may still be extracted in
this run (a run killed before its extraction, a newer extractor version, OCR). Claims from the
first one citing a Telegram post on are left to the claim phase (posts are recorded after the
extractions).
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import Any

from ingest.capture.telegram import post_ref
from ingest.claims import origins
from ingest.claims.cases import Case, Citation
from ingest.claims.recording import record_people
from ingest.claims.status import (
    claim_key,
    forget_ahead,
    record_citations,
    record_claim_row,
    update_status,
    warm_anchor,
    warm_citation,
)
from ingest.store import db as dbm

HTML_READERS = ("trafilatura", "telegram")  # the extractors of pages whose quotes the visibility stage judges


class _CaseClaims:
    """A case's claims: their rows recorded in the case's order (`next_row`), each claim's
    citations once the sources it cites are settled."""

    def __init__(self, case: Case, telegram: set[str]) -> None:
        self.case = case
        self.people_recorded = False
        self.missing: list[int] = []  # by claim: how many of its cited sources are not settled yet
        self.by_source: dict[str, list[int]] = {}  # source id -> the claims waiting for it
        self.ready: list[int] = []  # a heap of claims whose sources are settled, citations not recorded
        self.next_row = 0
        # Claims rows are recorded ahead only up to the first claim citing a Telegram post: the
        # claim phase records that one, and rows keep the case's order.
        self.rows_end = len(case.claims)
        for i, claim in enumerate(case.claims):
            cited = {f"{case.id}/{c.source}" for c in claim.citations}
            if cited & telegram:
                self.rows_end = min(self.rows_end, i)
            self.missing.append(len(cited))
            for sid in cited:
                self.by_source.setdefault(sid, []).append(i)
            if not cited:
                heapq.heappush(self.ready, i)

    def settled(self, source_id: str) -> None:
        for i in self.by_source.pop(source_id, ()):
            self.missing[i] -= 1
            if self.missing[i] == 0:
                heapq.heappush(self.ready, i)

    def next_citations(self) -> int | None:
        """The first claim, in the case's order, whose row is recorded and whose sources are settled."""
        if self.ready and self.ready[0] < min(self.next_row, self.rows_end):
            return heapq.heappop(self.ready)
        return None


class Ahead:
    """Texts and citations waiting to be worked on, claims waiting for their sources."""

    def __init__(self, archive: Any, visibility: str, record: bool) -> None:
        self.archive = archive
        self.visibility = visibility
        self.record = record  # whether settled sources' citations and claims are done ahead
        self._citing: dict[str, list[Citation]] = {}  # source id -> the citations of it
        self._waiting: dict[str, list[Citation]] = {}  # BLAKE3 captured in this run -> citations of its source
        self._captured: dict[str, list[str]] = {}  # BLAKE3 captured in this run -> the sources it is the capture of
        self._anchors: deque[tuple[int, Citation]] = deque(maxlen=100_000)
        self._citations: deque[tuple[str, Citation]] = deque(maxlen=100_000)
        self._phrases: deque[int] = deque(maxlen=100_000)
        self._cases: list[_CaseClaims] = []
        self._telegram: set[str] = set()  # Telegram post sources: their posts are recorded after the extractions
        self.stopped: str | None = None  # why claims stopped being recorded ahead
        self.completed: set[str] = set()  # claims recorded, anchored and given their status ahead
        forget_ahead()

    def cases(self, cases: list[Case]) -> None:
        for case in cases:
            telegram = {f"{case.id}/{s.id}" for s in case.sources if s.family or (s.url and post_ref(s.url))}
            self._telegram |= telegram
            for claim in case.claims:
                for c in claim.citations:
                    self._citing.setdefault(f"{case.id}/{c.source}", []).append(c)
            if self.record and case.claims:
                self._cases.append(_CaseClaims(case, telegram))

    def captured(self, source_id: str, blake3: str) -> None:
        if source_id in self._citing and not self.record:
            self._waiting.setdefault(blake3, []).extend(self._citing[source_id])
        self._captured.setdefault(blake3, []).append(source_id)

    def _settle(self, source_id: str) -> None:
        if not self.record:
            return
        if source_id not in self._telegram:
            self._citations.extend((source_id, c) for c in self._citing.get(source_id, ()))
        for one in self._cases:
            one.settled(source_id)

    def extracted(self, extraction_id: int, blake3: str, text: str | None, extractor: str,
                  metadata: dict[str, Any]) -> None:
        citations = self._waiting.pop(blake3, ())
        # Settled unless OCR may still give the file words (a PDF without a full text layer).
        if extractor != "tesseract" and metadata.get("text_layer") not in ("none", "partial"):
            for sid in self._captured.pop(blake3, ()):
                self._settle(sid)
        if not text:
            return
        self._anchors.extend((extraction_id, c) for c in citations)
        # A page's quotes support a claim only once their visibility is judged: with the stage
        # off, its phrases would be found for nothing.
        if self.visibility != "off" or extractor not in HTML_READERS:
            self._phrases.append(extraction_id)

    def work(self, seconds: float) -> None:
        """Work for about `seconds`: citations first, then the claims they let be recorded, then phrases."""
        deadline = time.monotonic() + seconds
        row: dict[str, Any] | None = None
        while self._anchors and time.monotonic() < deadline:
            eid, c = self._anchors.popleft()
            if row is None or row["id"] != eid:
                row = dbm.first_row(self.archive.db, "SELECT * FROM extractions WHERE id = ?", [eid])
            if row is not None:
                warm_anchor(row, c)
        try:
            while self._citations and time.monotonic() < deadline:
                warm_citation(self.archive, *self._citations.popleft())
            for one in self._cases:
                while one.next_row < one.rows_end and time.monotonic() < deadline:
                    self._record_row(one)
                while time.monotonic() < deadline and (i := one.next_citations()) is not None:
                    claim = one.case.claims[i]
                    key = claim_key(one.case.id, claim.id)
                    record_citations(self.archive, one.case, claim, key)
                    update_status(self.archive, key)
                    self.completed.add(key)
        except Exception as exc:  # noqa: BLE001 - the claim phase records every claim again, and says why it cannot
            self._cases, self._citations = [], deque()
            self.stopped = f"claims not recorded ahead of the claim phase: {type(exc).__name__}: {exc}"
        while self._phrases and time.monotonic() < deadline:
            found = self.archive.db.execute("SELECT text FROM extractions WHERE id = ?", [self._phrases.popleft()]).fetchone()
            if found and found[0]:
                origins.warm_attributions(found[0])

    def _record_row(self, one: _CaseClaims) -> None:
        if not one.people_recorded:  # as the claim phase does: the case's people before its claims
            record_people(self.archive, one.case)
            one.people_recorded = True
        claim = one.case.claims[one.next_row]
        record_claim_row(self.archive, one.case, claim, claim_key(one.case.id, claim.id))
        one.next_row += 1

    def close(self) -> None:
        forget_ahead()
