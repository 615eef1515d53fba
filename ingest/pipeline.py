"""One ingest run: record cases and sources, capture what is due, extract new files, anchor claims."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ingest import apicapture, browsing, faults
from ingest.capture import posts, telegram
from ingest.capture.hops import hops_json
from ingest.capture import unchanged
from ingest.capture.local import Folders, LocalRefused, read_document
from ingest.capture.media import sniff_media_type
from ingest.capture.warc import RunWarc, earlier_response, local_document_uri
from ingest.claims.ahead import Ahead
from ingest.claims.cases import Case, Source
from ingest.claims.recording import (
    latest_capture,
    latest_captures,
    local_display_path,
    next_id,
    record_case,
    source_key,
    store,
)
from ingest.errors import FetchFailed, StoreError
from ingest.store import db as dbm
from ingest.store.archive import Archive
from ingest.store.extractions import extraction_row
from ingest.store.files import blake3_of
from ingest.store.groups import GroupCommit
from ingest.store.log import utcnow
from ingest.text import ocrqueue
from ingest.text.completeness import record_incomplete
from ingest.text.extract import EXTRACTORS, Extraction, extractor_for
from ingest.text.ocr import OCR_DISABLED, tesseract_version
from ingest.text.workers import Job, run_jobs
from ingest.runoptions import RunOptions  # noqa: F401 (re-exported)
from ingest.runreport import FAILED, KEPT, NEW, UNCHANGED, WANTED, Progress, RunReport, SourceResult  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from ingest.capture.fetch import FetchConfig, FetchResult


WARM_SLICE = 0.005  # seconds of idle work at a time: a worker's result is never left waiting longer


class Runner:
    """Carries one run's WARC and report across cases."""

    def __init__(self, archive: Archive, options: RunOptions, progress: Progress | None = None) -> None:
        self.archive = archive
        self.options = options
        self.progress = progress or (lambda r: None)
        self.warc = RunWarc(archive.root)
        self.report = RunReport()
        self.folders = Folders()  # the case folders' sub-folders, opened once a run
        # The case being captured: each source's latest capture (None: never captured), read for
        # all at once and taken (popped) when the source is captured, so never used stale.
        self._latest: dict[str, dict[str, Any] | None] = {}
        self._fresh: list[str] = []  # BLAKE3s of captures made for the source being processed
        self._group = GroupCommit(archive, options.group_sources, options.group_seconds)
        self.tgapi: Any = None  # the Telegram API client, connected when first needed (apicapture)
        # The claim phase's work done in idle time; claims recorded ahead only when nothing is
        # captured after the extractions (the browser pass over incomplete pages).
        self.ahead = Ahead(archive, options.visibility, record=options.offline or options.browser_mode != "auto")
        archive.before_sync.append(self.warc.sync)  # its records are on disk before the log names them

    @staticmethod
    def _version(name: str) -> str:
        """An extractor's version. Tesseract's means running it (once per process, ocr caches it),
        so it is asked only when an extraction by it is due: an unchanged re-run never asks."""
        return tesseract_version() if name == "tesseract" else EXTRACTORS.get(name, "")

    def _result(self, sid: str, state: str, detail: str) -> None:
        result = SourceResult(sid, state, detail)
        self._group.members.append(len(self.report.results))
        self.report.results.append(result)
        self.progress(result)

    def _group_step(self, source_done: bool = False, waiting: bool = False) -> None:
        lost = self._group.step(source_done, waiting)
        if lost is not None:  # nothing since the last sync reached the log: what was new is not kept
            members, exc = lost
            for i in members:
                r = self.report.results[i]
                if r.state == NEW:
                    self.report.results[i] = SourceResult(r.source_id, FAILED, f"not recorded: {exc}; the next run "
                                                          "captures it again")
            self.report.notes.append(f"a group of {len(members)} source(s) was not recorded: {exc}")

    def _idle(self) -> None:
        """While the workers extract and this process has nothing to hand them: the group commit
        when due, then a few milliseconds of the claim phase's work that needs only the texts."""
        self._group_step()
        self.ahead.work(WARM_SLICE)

    def run_case(self, case: Case) -> Iterator[str]:
        """Capture the case's due sources; yield the BLAKE3 of each new capture as it is made."""
        with self.archive.batch():
            record_case(self.archive, case)
        self._latest = dict.fromkeys((source_key(case.id, s.id) for s in case.sources), None)
        self._latest.update(latest_captures(self.archive, case.id))
        kept = unchanged.kept(self.archive.db, case.id)
        for source in case.sources:
            sid = source_key(case.id, source.id)
            try:
                with self.archive.batch():  # a source's file, capture and attempt: one log sync
                    if source.wanted:
                        self._result(sid, WANTED, "address not yet known")
                    elif source.path:
                        self._capture_local(case, source, sid, kept.get(sid))
                    else:
                        self._capture_url(source, sid)
            except StoreError as exc:
                self._attempt(sid, source.method, source.url, "failed", str(exc))
                self._result(sid, FAILED, str(exc))
            except Exception as exc:  # noqa: BLE001 - the last resort: one source never stops the batch
                self._internal_error(sid, source, exc)
            self._group_step(source_done=True)
            # Outside the batch: the caller records extractions between two sources.
            fresh, self._fresh = self._fresh, []
            yield from fresh
        self._latest = {}

    # -- attempts and captures ---------------------------------------------------------------

    def _attempt(self, sid: str, method: str, url: str | None, outcome: str, error: str | None,
                 *, started_at: str | None = None, status: int | None = None, capture_id: int | None = None,
                 blake3: str | None = None, hops: list[Any] | None = None, warc_ref: Any = None) -> None:
        aid = next_id(self.archive, "attempts")
        self.archive.record("attempt", "attempts", str(aid), {
            "id": aid, "source_id": sid, "started_at": started_at or utcnow(), "method": method, "url": url,
            "outcome": outcome, "error": error, "status": status, "capture_id": capture_id, "blake3": blake3,
            "hops": hops_json(hops or []), "warc_file": warc_ref.file if warc_ref else None,
            "warc_offset": warc_ref.offset if warc_ref else None,
        })

    def _new_capture(self, sid: str, blake3: str, previous: dict[str, Any] | None, fields: dict[str, Any]) -> int:
        cid = next_id(self.archive, "captures")
        row = {
            "id": cid, "source_id": sid, "version": (previous["version"] + 1) if previous else 1,
            "blake3": blake3, "previous_capture_id": previous["id"] if previous else None,
            "captured_at": None, "method": None, "url": None, "final_url": None, "status": None,
            "media_type": None, "declared_type": None, "charset": None, "ip": None, "tls": None, "hops": None,
            "proxy_used": 0, "tool": None, "local_path": None, "local_mtime": None,
            "warc_file": None, "warc_offset": None, "warc_length": None,
            "completeness": None, "completeness_note": None, "incomplete": None,
        }
        row.update(fields)
        self.archive.record("capture", "captures", str(cid), row)
        self.ahead.captured(sid, blake3)
        self._fresh.append(blake3)
        return cid

    def _previous(self, sid: str) -> dict[str, Any] | None:
        return self._latest.pop(sid) if sid in self._latest else latest_capture(self.archive, sid)

    def _capture_local(self, case: Case, source: Source, sid: str, kept: unchanged.Kept | None) -> None:
        assert source.path is not None
        started, display = utcnow(), local_display_path(case, source)
        previous = self._previous(sid)
        if (previous is not None and kept is not None and not self.options.refresh and not self.options.rehash
                and unchanged.still_unchanged(kept, display, previous["blake3"], case.folder, source.path, self.folders)):
            self._result(sid, UNCHANGED, f"unchanged ({previous['blake3'][:12]}; not re-read: size, mtime, inode and "
                                         "ctime as when last read; --rehash reads it)")
            return
        try:
            doc = read_document(case.folder, source.path, self.options.max_local, self.folders)
        except LocalRefused as exc:
            self._attempt(sid, "local_file", None, exc.outcome, f"{display} {exc}", started_at=started)
            self._result(sid, FAILED, f"{exc.outcome}: {display} {exc}")
            return
        data, mtime = doc.data, doc.mtime
        digest = blake3_of(data)  # hashed once: the comparison, then the store
        if previous is not None and digest == previous["blake3"]:
            unchanged.remember(self.archive.db, sid, display, doc.identity, digest)
            if self.options.refresh:
                self._attempt(sid, "local_file", None, "unchanged", None, started_at=started,
                              capture_id=previous["id"], blake3=previous["blake3"])
            self._result(sid, UNCHANGED, f"unchanged ({previous['blake3'][:12]})")
            return
        media_type = sniff_media_type(data, mimetypes.guess_type(source.path)[0])
        blake3 = store(self.archive, data, media_type, digest)
        ref = self.warc.write_resource(local_document_uri(case.id, source.path), data, media_type, started)
        cid = self._new_capture(sid, blake3, previous, {
            "captured_at": started, "method": "local_file", "media_type": media_type,
            "local_path": display, "local_mtime": mtime, "tool": _tool(), "completeness": "checked",
            "completeness_note": f"regular file read to its end ({len(data)} bytes, as its size said)",
            "warc_file": ref.file, "warc_offset": ref.offset, "warc_length": ref.length,
        })
        self._attempt(sid, "local_file", None, "captured", None, started_at=started, capture_id=cid, blake3=blake3)
        unchanged.remember(self.archive.db, sid, display, doc.identity, blake3)
        self._result(sid, NEW, f"captured {display} ({blake3[:12]}, {len(data)} bytes)")

    def _capture_url(self, source: Source, sid: str) -> None:
        assert source.url is not None
        previous = self._previous(sid)
        # The case file names another address than the latest capture's: a new version is due.
        moved = previous is not None and previous["url"] != source.url
        if previous is not None and not self.options.refresh and not moved:
            self._result(sid, KEPT, f"captured before ({previous['captured_at']}); --refresh to check for changes")
            return
        if self.options.offline:
            if previous is None:
                self._result(sid, FAILED, "never captured, and --offline forbids fetching it")
            elif moved:
                self._result(sid, KEPT, f"address changed to {source.url}; --offline: not fetched")
            else:
                self._result(sid, KEPT, "--offline: not re-fetched")
            return
        if moved:
            assert previous is not None
            self._address_changed(sid, previous["url"] or previous["local_path"], source.url)
        if not moved and (why := apicapture.not_rechecked(self, previous)) is not None:
            self._result(sid, KEPT, why)
            return
        self._group_step(waiting=True)  # a fetch may take long: what came before it is made durable first
        if source.method == browsing.METHOD:
            browsing.capture_source(self, source, sid, previous, moved)
            return
        started = utcnow()
        try:
            result = telegram.fetch_source(source.url, self._fetch_config())  # a Telegram post: its preview
        except FetchFailed as exc:
            ref = self.warc.write_exchanges(exc.hops)
            status = exc.hops[-1].status if exc.hops else None
            self._attempt(sid, "http", source.url, exc.outcome, exc.reason, started_at=started,
                          status=status, hops=exc.hops, warc_ref=ref)
            if apicapture.wanted(self, source, exc):
                apicapture.capture_post(self, source, sid, previous, moved, f"{exc.outcome}: {exc.reason}")
            else:
                self._result(sid, FAILED, f"{exc.outcome}: {exc.reason}")
            return
        self._record_fetch(sid, source, result, previous, moved)

    def _address_changed(self, sid: str, old: str | None, new: str) -> None:
        """Log the move once per new address (a failed fetch of it is retried by the next run)."""
        if not self.archive.db.execute("SELECT 1 FROM log WHERE event = 'address_changed' AND json_extract(entry, "
                                       "'$.source_id') = ? AND json_extract(entry, '$.new_url') = ?", [sid, new]).fetchone():
            self.archive.record("address_changed", source_id=sid, old_url=old, new_url=new)

    def _record_fetch(self, sid: str, source: Source, result: FetchResult, previous: dict[str, Any] | None,
                      moved: bool = False) -> None:
        # An unchanged page is written as a revisit of the previous capture's response record.
        earlier = earlier_response(self.archive.root, previous["warc_file"], previous["warc_offset"]) if previous else None
        ref = self.warc.write_exchanges(result.hops, earlier)
        final = result.hops[-1]
        blake3 = store(self.archive, result.body, result.media_type)
        if previous is not None and previous["blake3"] == blake3 and not moved:
            self._attempt(sid, "http", source.url, "unchanged", None, started_at=result.fetched_at,
                          status=result.status, capture_id=previous["id"], blake3=blake3,
                          hops=result.hops, warc_ref=ref)
            self._result(sid, UNCHANGED, f"unchanged at {result.fetched_at} ({blake3[:12]})")
            return
        cid = self._new_capture(sid, blake3, previous, {
            "captured_at": result.fetched_at, "method": "http", "url": source.url, "final_url": result.final_url,
            "status": result.status, "media_type": result.media_type, "declared_type": result.declared_type,
            "charset": result.charset, "ip": final.ip, "tls": dbm.dumps(final.tls), "hops": hops_json(result.hops),
            "proxy_used": int(result.proxy_used), "tool": result.tool, "completeness": result.completeness,
            "completeness_note": result.completeness_note, "warc_file": ref.file if ref else None, "warc_offset": ref.offset if ref else None,
            "warc_length": ref.length if ref else None,
        })
        self._attempt(sid, "http", source.url, "captured", None, started_at=result.fetched_at,
                      status=result.status, capture_id=cid, blake3=blake3, hops=result.hops, warc_ref=ref)
        what = "address changed: new version" if moved else "changed: new version" if previous else "captured"
        unchecked = f"; completeness unchecked: {result.completeness_note}" if result.completeness != "checked" else ""
        if unchecked:
            self.report.notes.append(f"{sid}: capture {cid} {unchecked[2:]}")
        self._result(sid, NEW, f"{what} {result.final_url} ({blake3[:12]}, {len(result.body)} bytes){unchecked}")

    # -- extraction --------------------------------------------------------------------------

    def _internal_error(self, sid: str, source: Source, exc: Exception) -> None:
        reason = f"internal error while capturing ({type(exc).__name__}: {exc})"
        self._attempt(sid, source.method, source.url, "failed", reason)
        self._result(sid, FAILED, f"failed: {reason}")

    def refetch(self, source_id: str, url: str) -> None:
        """Fetch a URL source again and record what came back, as --refresh does (verify --live)."""
        source = Source(id=source_id.split("/", 1)[-1], line=0, url=url)
        with self.archive.batch():
            try:
                self._capture_url(source, source_id)
            except Exception as exc:  # noqa: BLE001 - as in run_case: verify goes on to the next source
                self._internal_error(source_id, source, exc)

    def capture_and_extract(self, cases: list[Case]) -> None:
        """Capture every case's due sources and extract what is new, the two overlapping: the
        workers extract one capture while this process makes the next."""
        done = self._extracted()
        queued: set[str] = set()
        self.ahead.cases(cases)

        def jobs() -> Iterator[Job]:
            for case in cases:
                for blake3 in self.run_case(case):
                    job = self._job(blake3, done, queued)
                    if job is not None:
                        yield job
            yield from self._pending_jobs(done, queued)

        with self.archive.batch():  # group commit across sources and their extractions
            self._extract(jobs())
            self._extract(self._ocr_jobs(done))
        if self.ahead.stopped:
            self.report.notes.append(self.ahead.stopped)
        self.record_posts()
        if self.options.browser_mode == "auto" and not self.options.offline:
            browsing.browse_incomplete(self, cases)

    def record_posts(self) -> None:
        """Telegram posts newly extracted: their rows, and (unless --offline) their channel page and media."""
        fetching = None if self.options.offline else self._fetch_config
        self.report.notes += posts.record_posts(self.archive, self.warc, fetching)

    def extract_pending(self) -> None:
        """Extract every stored capture that has no extraction by the current extractor version."""
        done = self._extracted()
        self._extract(self._pending_jobs(done, set()))
        self._extract(self._ocr_jobs(done))
        self.record_posts()

    def _fetch_config(self) -> FetchConfig:
        if callable(self.options.fetch):
            self.options.fetch = self.options.fetch()
        return self.options.fetch

    def extract_stored(self, files: list[tuple[str, str, str | None]]) -> None:
        """Extract stored files that are no source's capture (a witness's memento): (BLAKE3, media type, charset)."""
        done, queued = self._extracted(), set()
        self._extract(job for b3, media, charset in files if (job := self._job(b3, done, queued, media, charset)))

    def _ocr_jobs(self, done: set[tuple[str, str, str]]) -> Iterator[Job]:
        """OCR for the PDFs just found to have pages without a text layer."""
        return ocrqueue.ocr_jobs(self.archive.db, lambda b: str(self.archive.store.path(b)),
                                 lambda: self._version("tesseract"), self.options.ocr, done, self._record_extraction)

    def _extract(self, jobs: Iterator[Job]) -> None:
        for job, extraction in run_jobs(jobs, workers=self.options.workers, limits=self.options.limits,
                                        idle=self._idle):
            self._record_extraction(job.key, extraction)
            self._group_step()
            faults.point("mid_extraction")

    def _extracted(self) -> set[tuple[str, str, str]]:
        # A text extracted before block boundaries were kept is extracted once more to find them; a
        # --no-ocr record is not done (a later run OCRs the file).
        return {tuple(r) for r in self.archive.db.execute(  # type: ignore[misc]
            "SELECT blake3, extractor, extractor_version FROM extractions "
            "WHERE (text_blake3 IS NULL OR blocks IS NOT NULL) AND error IS NOT ?", [OCR_DISABLED])}

    def _job(self, blake3: str, done: set[tuple[str, str, str]], queued: set[str],
             media_type: str | None = None, charset: str | None = None, url: str | None = None) -> Job | None:
        """The extraction job for a stored file, unless it is done or queued already."""
        if blake3 in queued:
            return None
        if media_type is None:
            row = self.archive.db.execute(
                "SELECT media_type, charset, url FROM captures WHERE blake3 = ? ORDER BY id LIMIT 1", [blake3]).fetchone()
            media_type, charset, url = row if row else (None, None, None)
        media_type = media_type or "application/octet-stream"
        reader = "telegram" if telegram.post_ref(url) and extractor_for(media_type) == "trafilatura" else None
        name = reader or extractor_for(media_type)
        if (blake3, name, self._version(name)) in done:
            return None
        if name == "tesseract" and not self.options.ocr:
            ocrqueue.skip_ocr(self.archive.db, blake3, self._record_extraction)
            return None
        queued.add(blake3)
        return Job(blake3, str(self.archive.store.path(blake3)), media_type, charset, reader=reader)

    def _pending_jobs(self, done: set[tuple[str, str, str]], queued: set[str]) -> Iterator[Job]:
        """Jobs for files captured earlier but never extracted by the current versions."""
        rows = self.archive.db.execute("SELECT blake3, media_type, charset, url FROM captures ORDER BY id").fetchall()
        for blake3, media_type, charset, url in rows:
            job = self._job(blake3, done, queued, media_type or "application/octet-stream", charset, url)
            if job is not None:
                yield job

    def _record_extraction(self, blake3: str, ex: Extraction) -> None:
        eid = next_id(self.archive, "extractions")
        row = extraction_row(eid, blake3, ex)
        self.archive.record("extraction", "extractions", str(eid), row, extra={"text": ex.text})
        self.ahead.extracted(eid, blake3, ex.text, ex.extractor, ex.metadata)
        if ex.error == OCR_DISABLED:
            self.report.notes.append(f"{blake3[:12]}: not OCR'd (--no-ocr): quotes only its page images "
                                     "hold are unverifiable")
        elif ex.error:
            self.report.extraction_failures.append(f"{blake3[:12]}: {ex.error}")
        self.report.incomplete += record_incomplete(self.archive, blake3, ex.metadata.get("incomplete"))

    def finish(self) -> None:
        apicapture.close(self)
        self.folders.close()
        self.ahead.close()
        if self.warc.sync in self.archive.before_sync:
            self.archive.before_sync.remove(self.warc.sync)
        completed = self.warc.close()
        if completed is not None:
            self.archive.record_warc(completed, utcnow())
            self.report.warc = completed.name
        self.report.head = self.archive.log.head()


def _tool() -> str:
    from ingest import __version__
    return f"khronika/{__version__}"


def run(cases: list[Case], archive: Archive, options: RunOptions, progress: Progress | None = None) -> RunReport:
    """Capture every case's due sources, extract, anchor claims, check drift, judge visibility; the batch always completes."""
    from ingest.claims import standing

    runner = Runner(archive, options, progress)
    try:
        runner.capture_and_extract(cases)
        outcome, notes = standing.claim_phase(archive, cases, options.visibility, runner.ahead.completed)
        runner.report.notes += notes
        runner.report.claims, runner.report.drift = dict(outcome.counts), dict(outcome.drift)
        runner.report.not_sourced += outcome.not_sourced
        runner.report.drift_changes += outcome.drift_changes
        for case in cases:
            runner.report.notes += browsing.mark(archive, case.id)
    finally:
        runner.finish()
    return runner.report
