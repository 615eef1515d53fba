"""Independent witnesses: for each cited URL, what other web archives hold around our capture, and
whether each citation's quote is there (witnessed, differs, absent, no_memento, unreachable).

For every URL source a claim in force cites, each configured archive's TimeMap is read
(capture/memento), the mementos closest before and after the capture each citation is anchored
in are fetched raw with the fetch safety of any capture, and each that is a copy of the cited page
is kept as a capture of the witness kind: its bytes in the store, its exchanges in the run's WARC,
a text extraction, a logged `witness_captures` row. Every TimeMap asked (`witness_lookups`), every
quote looked for (`witness_checks`) and every submission (`witness_submissions`) is a logged event,
so the tables rebuild from the log. Witnesses never change a claim's status: they add independent
support, or a warning.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from ingest.capture import memento
from ingest.capture.hops import hops_json
from ingest.claims.cases import Citation
from ingest.claims.recording import next_id, store
from ingest.claims.status import anchor_in_capture
from ingest.store.archive import Archive
from ingest.store.log import Head, utcnow

WITNESSED, DIFFERS, ABSENT, NO_MEMENTO, UNREACHABLE = "witnessed", "differs", "absent", "no_memento", "unreachable"
RESULTS = (WITNESSED, DIFFERS, ABSENT, NO_MEMENTO, UNREACHABLE)

# Citations of claims in force whose source is a URL, with the capture each is anchored in.
CITED_SQL = """
SELECT ci.id, ci.source_id, ci.quote, ci.page, ci.spans, ci.exact, ci.match, s.url,
       cap.captured_at AS anchored_at, cap.hops AS anchored_hops, cap.final_url AS anchored_final
FROM citations ci JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0
JOIN sources s ON s.id = ci.source_id AND s.method = 'http' AND s.url IS NOT NULL
LEFT JOIN captures cap ON cap.id = ci.capture_id
WHERE (? IS NULL OR cl.case_id = ?)
ORDER BY ci.source_id, ci.claim_id, ci.n
"""
# Cited URL sources that are not asked, said so rather than left out silently: another archive's raw
# copy is compared with an HTTP capture's text, not with a page a browser rendered (`capture: browser`).
NOT_ASKED_SQL = """
SELECT DISTINCT s.id, s.method FROM citations ci JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0
JOIN sources s ON s.id = ci.source_id AND s.method != 'http' AND s.url IS NOT NULL
WHERE (? IS NULL OR cl.case_id = ?) ORDER BY s.id
"""


@dataclass
class WitnessOptions:
    archives: list[memento.ArchiveSpec]
    fetch: Any  # a FetchConfig
    max_timemap: int = memento.MAX_TIMEMAP
    max_mementos: int = memento.MAX_MEMENTOS
    submit: bool = False
    submit_interval: float = 10.0
    limits: Any = None  # WorkerLimits for the extraction of mementos


@dataclass
class WitnessReport:
    checks: list[dict[str, Any]] = field(default_factory=list)  # the witness_checks rows recorded
    submissions: list[dict[str, Any]] = field(default_factory=list)
    sources: int = 0
    not_asked: list[tuple[str, str]] = field(default_factory=list)  # (source id, its capture method)
    head: Head | None = None

    def counts(self) -> dict[str, int]:
        return {r: sum(1 for c in self.checks if c["result"] == r) for r in RESULTS}


def _parse_time(at: str | None) -> dt.datetime:
    if not at:
        return dt.datetime.now(dt.UTC)
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(dt.UTC)


def _cited_urls(rows: list[dict[str, Any]]) -> set[str]:
    """The URLs a copy of the cited page may be of: the source's, and every hop our captures followed."""
    urls = {rows[0]["url"]}
    for r in rows:
        urls |= {h["url"] for h in json.loads(r["anchored_hops"] or "[]")}
        if r["anchored_final"]:
            urls.add(r["anchored_final"])
    return urls


class Witness:
    """One witness run: its runner (WARC, extraction) and what it recorded."""

    def __init__(self, archive: Archive, options: WitnessOptions, progress: Callable[[dict[str, Any]], None]) -> None:
        from ingest.pipeline import RunOptions, Runner
        from ingest.text.workers import WorkerLimits

        self.archive, self.options, self.progress = archive, options, progress
        self.runner = Runner(archive, RunOptions(fetch=options.fetch, limits=options.limits or WorkerLimits()))
        self.report = WitnessReport()
        self._last_submit: dict[str, float] = {}

    # -- recording ----------------------------------------------------------------------------

    def _record(self, event: str, table: str, row: dict[str, Any]) -> dict[str, Any]:
        row = {"id": next_id(self.archive, table), **row}
        self.archive.record(event, table, str(row["id"]), row)
        return row

    def _warc(self, hops: list[Any]) -> dict[str, Any]:
        ref = self.runner.warc.write_exchanges(hops) if hops else None
        return {"hops": hops_json(hops), "warc_file": ref.file if ref else None,
                "warc_offset": ref.offset if ref else None}

    # -- submission ----------------------------------------------------------------------------

    def submit(self, source_id: str, url: str) -> None:
        """Ask each archive that takes submissions to capture `url` now, no faster than the interval."""
        from ingest.capture.fetch import fetch
        from ingest.errors import FetchFailed

        for spec in self.options.archives:
            if not spec.submit:
                continue
            wait = self._last_submit.get(spec.name, -1e9) + self.options.submit_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_submit[spec.name] = time.monotonic()
            where, at = spec.submit.replace("{url}", url), utcnow()
            try:
                result = fetch(where, self.options.fetch)
                hops, status = result.hops, result.status
                final = result.hops[-1]
                named = next((v for k, v in final.response_headers if k.lower() == "content-location"), None)
                found = named or (result.final_url if memento.is_memento_url(result.final_url) else None)
                outcome, detail = "submitted", None if found else "the archive answered but named no memento"
                found = urljoin(result.final_url, found) if found else None
            except FetchFailed as exc:
                hops, status, found = exc.hops, (exc.hops[-1].status if exc.hops else None), None
                outcome, detail = exc.outcome, exc.reason
            row = self._record("witness_submission", "witness_submissions", {
                "source_id": source_id, "archive": spec.name, "request_url": where, "requested_at": at,
                "outcome": outcome, "status": status, "memento_url": found, "detail": detail, **self._warc(hops)})
            self.report.submissions.append(row)

    # -- lookups and mementos ------------------------------------------------------------------

    def source(self, rows: list[dict[str, Any]]) -> None:
        """Every archive's witness for one source's citations."""
        sid, url = rows[0]["source_id"], rows[0]["url"]
        cited = _cited_urls(rows)
        reference = {r["id"]: _parse_time(r["anchored_at"]) for r in rows}
        for spec in self.options.archives:
            with self.archive.batch():
                checks = self._archive(spec, sid, url, cited, rows, reference)
            for row in checks:
                self.report.checks.append(row)
                self.progress(row)

    def _archive(self, spec: memento.ArchiveSpec, sid: str, url: str, cited: set[str], rows: list[dict[str, Any]],
                 reference: dict[str, dt.datetime]) -> list[dict[str, Any]]:
        earliest = min(reference.values())
        base = {"source_id": sid, "archive": spec.name, "timemap_url": spec.timemap_url(url),
                "reference_at": memento.iso(earliest), "looked_up_at": utcnow()}
        try:
            tm = memento.lookup(spec, url, self.options.fetch, self.options.max_timemap, self.options.max_mementos,
                                earliest)
        except memento.LookupFailed as exc:
            status = exc.hops[-1].status if exc.hops else None
            lookup = self._record("witness_lookup", "witness_lookups", {
                **base, "outcome": exc.outcome, "detail": exc.reason, "mementos": None, "status": status,
                **self._warc(exc.hops)})
            return [self._check(r, spec, lookup["id"], exc.outcome, exc.reason) for r in rows]
        lookup = self._record("witness_lookup", "witness_lookups", {
            **base, "outcome": "found", "mementos": len(tm.mementos),
            "detail": f"{tm.via}; its TimeGate named {len(tm.mementos)} memento(s)" if tm.via
            else f"{len(tm.mementos)} memento(s) listed",
            "status": tm.status, **self._warc(tm.hops)})
        chosen: dict[str, list[tuple[str, memento.Memento]]] = {}
        for r in rows:
            before, after = memento.closest(tm.mementos, reference[r["id"]])
            chosen[r["id"]] = [(rel, m) for rel, m in (("before", before), ("after", after)) if m is not None]
        fetched: dict[str, dict[str, Any]] = {}
        for pairs in chosen.values():
            for rel, m in pairs:
                if m.url not in fetched:
                    fetched[m.url] = self._memento(spec, sid, lookup["id"], m, rel, cited)
        new = [(w["blake3"], w["media_type"], w["charset"]) for w in fetched.values() if w["blake3"]]
        self.runner.extract_stored(new)
        out = []
        for r in rows:
            for rel, m in chosen[r["id"]]:
                out.append(self._quote(r, spec, lookup["id"], fetched[m.url], reference[r["id"]]))
        return out

    def _memento(self, spec: memento.ArchiveSpec, sid: str, lookup_id: int, m: memento.Memento, rel: str,
                 cited: set[str]) -> dict[str, Any]:
        """The witness capture of one memento: an earlier one of the same raw address is used again
        (a memento does not change), else it is fetched, checked and recorded."""
        raw = memento.raw_url(spec, m.url)
        kept = self.archive.db.execute(
            "SELECT id FROM witness_captures WHERE fetched_url = ? AND source_id = ? AND outcome = 'captured' "
            "ORDER BY id DESC LIMIT 1", [raw, sid]).fetchone()
        if kept is not None:
            row = dict(next(self.archive.db.query("SELECT * FROM witness_captures WHERE id = ?", [kept[0]])))
            if self.archive.store.path(row["blake3"]).is_file():
                return row
        got = memento.fetch_memento(spec, m, cited, self.options.fetch)
        row: dict[str, Any] = {
            "lookup_id": lookup_id, "source_id": sid, "archive": spec.name, "memento_url": m.url,
            "listed_datetime": m.at, "relation": rel, "fetched_url": got.fetched_url, "raw": int(raw != m.url),
            "outcome": got.outcome, "detail": got.reason, "memento_datetime": got.memento_datetime,
            "original_url": got.original, "final_url": None, "status": got.hops[-1].status if got.hops else None,
            "blake3": None, "media_type": None, "declared_type": None, "charset": None, "tool": None,
            "fetched_at": got.result.fetched_at if got.result else utcnow(), "completeness": None,
            "warc_length": None}
        ref = self.runner.warc.write_exchanges(got.hops) if got.hops else None
        row.update(hops=hops_json(got.hops), warc_file=ref.file if ref else None,
                   warc_offset=ref.offset if ref else None, warc_length=ref.length if ref else None)
        if got.outcome == memento.CAPTURED and got.result is not None:
            res = got.result
            row.update(final_url=res.final_url, blake3=store(self.archive, res.body, res.media_type),
                       media_type=res.media_type, declared_type=res.declared_type, charset=res.charset,
                       tool=res.tool, completeness=res.completeness)
        return self._record("witness_capture", "witness_captures", row)

    # -- the quote -----------------------------------------------------------------------------

    def _check(self, r: dict[str, Any], spec: memento.ArchiveSpec, lookup_id: int, result: str, detail: str,
               capture: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
        return self._record("witness_check", "witness_checks", {
            "citation_id": r["id"], "source_id": r["source_id"], "archive": spec.name, "lookup_id": lookup_id,
            "witness_capture_id": capture["id"] if capture else None, "result": result,
            "memento_datetime": capture["memento_datetime"] if capture else None,
            "relation": more.pop("relation", None), "extraction_id": more.pop("extraction_id", None),
            "detail": detail, "diff": more.pop("diff", None), "checked_at": utcnow()})

    def _quote(self, r: dict[str, Any], spec: memento.ArchiveSpec, lookup_id: int, w: dict[str, Any],
               reference: dt.datetime) -> dict[str, Any]:
        listed = w["memento_datetime"] or w["listed_datetime"]
        rel = "before" if _parse_time(listed) <= reference else "after"
        copy = f"{spec.name}'s copy of {listed} ({rel} our capture)"
        if w["outcome"] != memento.CAPTURED:
            return self._check(r, spec, lookup_id, UNREACHABLE, f"{copy} is not usable ({w['outcome']}): {w['detail']}",
                               w, relation=rel)
        cited = Citation(r["source_id"], r["quote"], "supports", 0, None, None, r["page"], spans=r["spans"])
        found, ex = anchor_in_capture(self.archive.db, w["blake3"], cited)
        more: dict[str, Any] = {"relation": rel, "extraction_id": ex["id"] if ex else None}
        if ex is None or found.match == "unverifiable":
            return self._check(r, spec, lookup_id, UNREACHABLE, f"{copy} has no text to look in ({found.reason})", w, **more)
        where = " in its OCR text" if ex["extractor"] == "tesseract" else ""
        if found.found or found.match == "ambiguous":
            at = f"at [{found.start}, {found.end})" if found.found else "at several places"
            return self._check(r, spec, lookup_id, WITNESSED, f"quote present ({found.match}) {at}{where} of {copy}", w, **more)
        if found.match in ("fuzzy", "spans_blocks") and found.exact is not None:
            ours = r["exact"] or r["quote"]
            diff = "\n".join(difflib.unified_diff([ours], [found.exact], "ours", spec.name, lineterm=""))
            return self._check(r, spec, lookup_id, DIFFERS, f"the passage differs in {copy}{where}: "
                               f"\u201c{found.exact}\u201d ({found.reason})", w, diff=diff, **more)
        return self._check(r, spec, lookup_id, ABSENT, f"quote not in {copy}{where} ({found.reason})", w, **more)


def witness(archive: Archive, case_id: str | None, options: WitnessOptions,
            progress: Callable[[dict[str, Any]], None] | None = None) -> WitnessReport:
    """Submit (when asked), look up and check every cited URL source of the case (every case when None)."""
    w = Witness(archive, options, progress or (lambda row: None))
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in archive.db.query(CITED_SQL, [case_id, case_id]):
        by_source.setdefault(row["source_id"], []).append(row)
    try:
        for sid, rows in by_source.items():
            if options.submit:
                with archive.batch():
                    w.submit(sid, rows[0]["url"])
            w.source(rows)
            w.report.sources += 1
    finally:
        w.runner.finish()
    w.report.head = w.runner.report.head
    w.report.not_asked = [(r["id"], r["method"]) for r in archive.db.query(NOT_ASKED_SQL, [case_id, case_id])]
    return w.report
