"""Provenance checks: fixity, reproducibility, the quote gate, the log chain, published heads, live drift.

Every check ends in one state with a reason: ok, mismatch, missing, unverifiable or drift.
What a passing citation check proves: the quoted words are present in an intact archived copy
of the source captured at the recorded time. It does not prove the claim true.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import blake3 as blake3_mod

from ingest.checks import consistency, witnessed
from ingest.checks.results import (  # noqa: F401
    DRIFT,
    MISMATCH,
    MISSING,
    OK,
    STATES,
    UNVERIFIABLE,
    Check,
    Report,
)
from ingest.claims.anchor import anchor, quotes_equivalent
from ingest.claims.blocks import block_gate, blocks_moved
from ingest.store import db as dbm
from ingest.store import timestamps
from ingest.store.archive import Archive
from ingest.store.files import hash_file
from ingest.store.log import Head, check_chain, row_hash, utcnow

# -- fixity --------------------------------------------------------------------------------


def check_fixity(archive: Archive) -> tuple[list[Check], set[str]]:
    checks: list[Check] = []
    intact: set[str] = set()
    rows = archive.db.execute("SELECT blake3, sha256, size, path FROM files ORDER BY blake3").fetchall()
    root = str(archive.root) + os.sep
    for blake3, sha256, size, path in rows:
        subject = f"file {blake3} ({path})"
        try:
            b3, sha, actual = hash_file(root + path)
        except FileNotFoundError:
            checks.append(Check("fixity", subject, MISSING, "file is missing from the archive"))
            continue
        if b3 != blake3 or sha != sha256:
            checks.append(Check("fixity", subject, MISMATCH,
                                f"altered: BLAKE3 is now {b3}, SHA-256 {sha}, {actual} bytes (recorded {size})"))
            continue
        intact.add(blake3)
        checks.append(Check("fixity", subject, OK, "BLAKE3 and SHA-256 match"))
    for row in archive.db.query("SELECT name, blake3, sha256 FROM warcs ORDER BY name"):
        path = archive.root / "warc" / row["name"]
        subject = f"warc {row['name']}"
        if not path.is_file():
            checks.append(Check("fixity", subject, MISSING, "WARC file is missing"))
            continue
        b3, sha, _ = hash_file(path)
        if b3 != row["blake3"] or sha != row["sha256"]:
            checks.append(Check("fixity", subject, MISMATCH, f"altered: BLAKE3 is now {b3}"))
        else:
            checks.append(Check("fixity", subject, OK, "BLAKE3 and SHA-256 match"))
    known = {row[0] for row in rows}
    for name, sub in _stored_names(archive.root / "files"):
        if name not in known and not name.startswith(".tmp-"):
            checks.append(Check("fixity", f"file {name} (files/{sub}/{name})", MISMATCH,
                                "file in the archive that no record accounts for"))
    return checks, intact


def _stored_names(files_dir: Path) -> list[tuple[str, str]]:
    """(name, subfolder) of every file under files/, sorted."""
    out: list[tuple[str, str]] = []
    if files_dir.is_dir():
        for sub in os.scandir(files_dir):
            if sub.is_dir(follow_symlinks=False):
                out.extend((entry.name, sub.name) for entry in os.scandir(sub.path))
    return sorted(out, key=lambda t: (t[1], t[0]))


# -- reproducibility -------------------------------------------------------------------------


def check_reproducibility(archive: Archive, intact: set[str], limits: Any = None) -> list[Check]:
    """Re-extract every text from its archived file in the sandboxed workers (ingest.text.workers),
    with their CPU, memory and time limits, as `run` extracts: an archived file is someone else's input."""
    from ingest.text.extract import extractor_for, extractor_versions
    from ingest.text.workers import Job, WorkerLimits, run_jobs

    found: dict[int, Check] = {}
    pending: dict[str, dict[str, Any]] = {}
    jobs: list[Job] = []
    rows = list(archive.db.query(
        "SELECT e.*, f.media_type AS file_type, "
        "coalesce((SELECT charset FROM captures c WHERE c.blake3 = e.blake3 ORDER BY id LIMIT 1), "
        "(SELECT charset FROM witness_captures w WHERE w.blake3 = e.blake3 ORDER BY w.id LIMIT 1)) AS http_charset "
        "FROM extractions e JOIN files f ON f.blake3 = e.blake3 ORDER BY e.id"))
    for row in rows:
        subject = f"extraction {row['id']} of {row['blake3'][:16]} ({row['extractor']} {row['extractor_version']})"
        if row["error"]:
            found[row["id"]] = Check("reproducibility", subject, UNVERIFIABLE, f"extraction failed at ingest: {row['error']}")
            continue
        stored = row["text"]
        if stored is None or blake3_mod.blake3(stored.encode("utf-8")).hexdigest() != row["text_blake3"]:
            found[row["id"]] = Check("reproducibility", subject, MISMATCH,
                                     "stored text does not match its recorded BLAKE3 (edited in the database)")
            continue
        if row["blake3"] not in intact:
            found[row["id"]] = Check("reproducibility", subject, UNVERIFIABLE, "raw file is missing or altered")
            continue
        pending[str(row["id"])] = row
        ocr_pages = row["extractor"] == "tesseract"  # an OCR text is read again by OCR, page by page
        jobs.append(Job(str(row["id"]), str(archive.store.path(row["blake3"])), row["file_type"] or "", row["http_charset"],
                        ocr_pages=ocr_pages, pages=(row["page_count"] or 1) if ocr_pages else 1,
                        reader="telegram" if row["extractor"] == "telegram" else None))
    for job, again in run_jobs(jobs, workers=1, limits=limits or WorkerLimits()):
        row = pending[job.key]
        subject = f"extraction {row['id']} of {row['blake3'][:16]} ({row['extractor']} {row['extractor_version']})"
        name = "tesseract" if job.ocr_pages else job.reader or extractor_for(row["file_type"])
        found[row["id"]] = _reproduced(archive, row, subject, again, name, extractor_versions())
    return [found[row["id"]] for row in rows if row["id"] in found]


def _reproduced(archive: Archive, row: dict[str, Any], subject: str, again: Any, name: str,
                installed: dict[str, str]) -> Check:
    version = installed.get(name, "")
    if again.error and again.metadata.get("worker"):
        return Check("reproducibility", subject, UNVERIFIABLE, f"re-extraction was stopped: {again.error}")
    if again.error:
        return Check("reproducibility", subject, MISMATCH, f"re-extraction failed: {again.error}")
    if (name, version) == (row["extractor"], row["extractor_version"]):
        if again.text_blake3 == row["text_blake3"] and (moved := blocks_moved(row, again.blocks)):
            return Check("reproducibility", subject, MISMATCH, moved)
        if again.text_blake3 == row["text_blake3"]:
            return Check("reproducibility", subject, OK, "re-extraction gives the same text hash")
        return Check("reproducibility", subject, MISMATCH,
                     f"same extractor version gives a different text ({again.text_blake3[:16]})")
    if again.text_blake3 == row["text_blake3"]:
        return Check("reproducibility", subject, OK, f"{name} {version} gives the same text")
    return Check("reproducibility", subject, DRIFT,
                 f"{name} {version} gives different text; {_quote_impact(archive, row, again.text or '', again.blocks)}")


def _quote_impact(archive: Archive, extraction: dict[str, Any], new_text: str,
                  new_blocks: dict[str, Any] | None = None) -> str:
    moved, broken = [], []
    runs = new_blocks["blocks"] if new_blocks else None
    for c in archive.db.query("SELECT * FROM citations WHERE extraction_id = ?", [extraction["id"]]):
        result = anchor(new_text, c["quote"], prefix=c["prefix"], suffix=c["suffix"], blocks=runs, accept=c["spans"])
        if not result.found:
            broken.append(c["id"])
        elif (result.start, result.end) != (c["start"], c["end"]):
            moved.append(c["id"])
    if not moved and not broken:
        return "no anchored quote is affected"
    return f"an upgrade would move {len(moved)} quote(s) {moved} and break {len(broken)} {broken}"


# -- quote gate ----------------------------------------------------------------------------


# Every citation of a claim in force, with what verify and verify-bag check it against.
CITATIONS_SQL = (
    "SELECT ci.*, s.wanted, e.text AS etext, e.text_blake3 AS etext_blake3, e.blocks AS eblocks, "
    "e.extractor AS eextractor "
    "FROM citations ci JOIN sources s ON s.id = ci.source_id "
    "JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0 "
    "LEFT JOIN extractions e ON e.id = ci.extraction_id ORDER BY ci.claim_id, ci.n"
)


def wanted_gaps(db: Any) -> list[str]:
    """Wanted sources: known to exist, address not yet known. Gaps in the record, not failed checks."""
    return [f"source {r['id']}: wanted (address not yet known): {r['title'] or 'untitled'}"
            for r in db.query("SELECT id, title FROM sources WHERE wanted = 1 ORDER BY id")]


def anchored(c: dict[str, Any], checks: list[Check], gaps: list[str]) -> bool:
    """Whether a citation row has an anchor to check; if not, record it as a gap or a failed check."""
    subject = f"citation {c['id']}"
    if c["wanted"]:
        gaps.append(f"{subject}: source {c['source_id']} is wanted (address not yet known)")
        return False
    if c["match"] not in ("exact", "normalized"):
        state = {"unverifiable": UNVERIFIABLE, "spans_blocks": MISMATCH}.get(c["match"], MISSING)
        checks.append(Check("quote", subject, state, f"quote not anchored ({c['match']}): {c['reason']}"))
        return False
    return True


def check_quotes(archive: Archive, intact: set[str]) -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    gaps: list[str] = []
    rows = archive.db.query(CITATIONS_SQL)
    for c in rows:
        if not anchored(c, checks, gaps):
            continue
        subject = f"citation {c['id']}"
        if c["etext"] is None:
            checks.append(Check("quote", subject, MISSING, f"extraction {c['extraction_id']} it is anchored in is missing"))
            continue
        if c["etext_blake3"] != c["text_blake3"]:
            checks.append(Check("quote", subject, MISMATCH, "anchored extraction's text hash differs from the citation's"))
            continue
        if c["blake3"] not in intact:
            checks.append(Check("quote", subject, MISMATCH if c["blake3"] else MISSING,
                                f"anchored capture {c['blake3']} is missing or altered"))
            continue
        at = c["etext"][c["start"]:c["end"]]
        if at != c["exact"]:
            checks.append(Check("quote", subject, MISMATCH,
                                f"text at [{c['start']}, {c['end']}) is {at[:80]!r}, not the recorded exact {str(c['exact'])[:80]!r}"))
        elif not quotes_equivalent(c["exact"], c["quote"]):
            checks.append(Check("quote", subject, MISMATCH, "the recorded passage and the case file's quote differ after normalisation"))
        elif not (kept := block_gate(c, c["etext"]))[0]:
            checks.append(Check("quote", subject, MISMATCH, kept[1]))
        else:
            meta = f", only in the page's metadata ({c['found_in_metadata']})" if c.get("found_in_metadata") else ""
            checks.append(Check("quote", subject, OK,
                                f"quote present ({c['match']}{', found in OCR text' if c['ocr'] else ''}) "
                                f"at [{c['start']}, {c['end']}) of capture {c['blake3'][:16]}{kept[1]}{meta}"))
    return checks, gaps


# -- log ---------------------------------------------------------------------------------------


def check_log(archive: Archive, head: Head | None) -> list[Check]:
    checks: list[Check] = []
    entries = list(archive.log.read())
    problems = check_chain(entries)
    for subject, problem in problems:
        checks.append(Check("log", subject, MISMATCH, problem))
    good = [e for e in entries if isinstance(e, dict)]
    if not problems:
        last = good[-1] if good else None
        checks.append(Check("log", "log chain", OK,
                            f"{len(good)} entries chain correctly; head {last['seq']}:{last['hash']}" if last else "log is empty"))
    by_seq = {e.get("seq"): e for e in good}
    mirrored = {r["seq"]: r for r in archive.db.query("SELECT seq, hash FROM log")}
    for seq in sorted(set(by_seq) | set(mirrored), key=lambda s: (s is None, s)):
        if seq not in mirrored:
            checks.append(Check("log", f"log entry {seq}", MISSING, "in log files but not in the log table"))
        elif seq not in by_seq:
            checks.append(Check("log", f"log entry {seq}", MISSING, "in the log table but not in the log files"))
        elif mirrored[seq]["hash"] != by_seq[seq].get("hash"):
            checks.append(Check("log", f"log entry {seq}", MISMATCH, "log table row differs from the log file"))
    checks.extend(_check_rows(archive, good))
    if head is not None:
        entry = by_seq.get(head.seq)
        if entry is None:
            checks.append(Check("head", str(head), MISSING, f"the chain has no entry {head.seq}"))
        elif entry.get("hash") != head.hash:
            checks.append(Check("head", str(head), MISMATCH,
                                f"entry {head.seq} has hash {entry.get('hash')}: the chain was rewritten since this head was published"))
        elif problems:
            checks.append(Check("head", str(head), MISMATCH, "entry matches, but the chain is broken (see log checks)"))
        else:
            checks.append(Check("head", str(head), OK, "the chain passes through the published head"))
    return checks


def _check_rows(archive: Archive, entries: list[dict[str, Any]]) -> list[Check]:
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for e in entries:
        if e.get("table"):
            expected[(e["table"], str(e.get("key")))] = e
    checks: list[Check] = []
    seen: set[tuple[str, str]] = set()
    bad = 0
    for table in dbm.LOGGED_TABLES:
        pk = dbm.SCHEMA[table]["pk"]
        for row in archive.db.query(f"SELECT * FROM [{table}]"):
            key = (table, str(row[pk]))
            seen.add(key)
            entry = expected.get(key)
            subject = f"{table} row {row[pk]}"
            if entry is None or entry.get("row") is None:
                checks.append(Check("log", subject, MISMATCH, "row has no log entry (added behind the tool's back)"))
                bad += 1
            elif row_hash(dbm.logged_row(table, row, entry["row"])) != entry.get("row_hash"):
                logged = entry["row"]
                changed = sorted(k for k in logged if logged.get(k) != row.get(k))
                checks.append(Check("log", subject, MISMATCH,
                                    f"row differs from log entry {entry['seq']} in: {', '.join(changed) or 'extra columns'}"))
                bad += 1
    for key, entry in expected.items():
        if key not in seen and entry.get("row") is not None:
            checks.append(Check("log", f"{key[0]} row {key[1]}", MISSING, f"row recorded by log entry {entry['seq']} is missing"))
            bad += 1
    if not bad:
        checks.append(Check("log", "database rows", OK, f"{len(seen)} rows match their log entries"))
    return checks


# -- live --------------------------------------------------------------------------------------


def check_live(archive: Archive, options: Any) -> list[Check]:
    """Re-fetch URL sources (recorded like --refresh), then check each anchored quote against what
    came back; the findings are logged as drift checks."""
    from ingest.claims import drift
    from ingest.pipeline import Runner

    runner = Runner(archive, options)
    sources = {s["id"]: s["url"] for s in archive.db.query("SELECT id, url FROM sources WHERE method = 'http' ORDER BY id")}
    try:
        for sid, url in sources.items():
            runner.refetch(sid, url)
        runner.extract_pending()
    finally:
        runner.finish()
    with archive.batch():
        found = drift.check_citations(archive, source_ids=set(sources))
    state = {drift.PRESENT: OK, drift.UNREACHABLE: UNVERIFIABLE}
    return [Check("live", f"citation {r['citation_id']} at {sources[r['source_id']]}", state.get(r["finding"], DRIFT),
                  r["detail"] + (f"\n{r['diff']}" if r["diff"] else ""), r["finding"]) for r in found]


HELD_DRIFT_SQL = (
    "SELECT d.*, ci.claim_id, cap.version FROM citation_drift d JOIN citations ci ON ci.id = d.citation_id "
    "JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0 LEFT JOIN captures cap ON cap.id = d.capture_id "
    "WHERE d.finding != 'quote_present' ORDER BY d.citation_id"
)


def held_drift(db: Any, skip: set[str] | None = None) -> list[Check]:
    """The drift the archive already holds (no network): each citation whose latest later
    capture or attempt no longer shows its quote as archived."""
    out = []
    for d in db.query(HELD_DRIFT_SQL):
        if skip and d["citation_id"] in skip:
            continue
        seen = f"attempt {d['attempt_id']}" + (f", capture version {d['version']}" if d["version"] else "")
        out.append(Check("drift", f"citation {d['citation_id']}", DRIFT,
                         f"since {d['since']} (last seen {d['observed_at']}, {seen}): {d['detail']}"
                         + (f"\n{d['diff']}" if d["diff"] else ""), d["finding"]))
    return out


# -- running and recording ---------------------------------------------------------------------


def verify(archive: Archive, *, head: Head | None = None, live: bool = False, live_options: Any = None,
           progress: Callable[[str], None] | None = None, limits: Any = None) -> Report:
    """Run every check; `limits` (ingest.text.workers.WorkerLimits) bound each re-extraction."""
    from ingest.checks.visible import check_visibility
    from ingest.claims import drift
    from ingest.claims.status import update_status

    say = progress or (lambda s: None)
    checks: list[Check] = []
    say("fixity")
    fixity, intact = check_fixity(archive)
    checks += fixity
    say("reproducibility")
    checks += check_reproducibility(archive, intact, limits)
    say("quotes")
    quote_checks, gaps = check_quotes(archive, intact)
    gaps = wanted_gaps(archive.db) + gaps
    checks += quote_checks
    say("visibility")
    checks += [Check("visibility", *found) for found in check_visibility(archive, intact)]
    say("log")
    checks += check_log(archive, head)
    say("timestamps")
    stamps = timestamps.check_archive(archive)
    proofs, ots_lines = timestamps.archive_ots(archive)
    checks += [Check("timestamp", f.subject, f.state, f.detail) for f in stamps + proofs]
    live_checked: set[str] = set()
    if live:
        say("live")
        live_checks = check_live(archive, live_options)
        live_checked = {c.subject.split(" ")[1] for c in live_checks}
        checks += live_checks
    checks += held_drift(archive.db, live_checked)
    # A citation the quote gate did not pass does not count for its claim, whatever its row says.
    refused = {c.subject.removeprefix("citation ") for c in quote_checks if c.state != OK}
    for row in list(archive.db.query("SELECT id FROM claims WHERE withdrawn = 0")):
        update_status(archive, row["id"], intact, refused)
    drift.update_claims(archive)
    say("consistency")
    per_case = consistency.by_case(archive.db)
    report = Report(checks, gaps, consistency.check_archive(archive.db, per_case),
                    timestamps.archive_coverage(archive, stamps), ots_lines)
    report.witnesses, report.witness_states = witnessed.verify_lines(archive.db, intact)
    consistency.store(archive.db, per_case, _store_results(archive, report))
    return report


def _store_results(archive: Archive, report: Report) -> str:
    db = archive.db
    at = utcnow()
    with db.conn:
        run_id = db["verify_runs"].insert({
            "checked_at": at, "counts": json.dumps(report.counts()), "exit_code": report.exit_code(),
            "gaps": json.dumps(report.gaps),
        }, pk="id").last_pk
        db["verify_results"].insert_all([dict(asdict(c), run_id=run_id, checked_at=at) for c in report.checks])
    return at


def is_archive(path: Path) -> bool:
    return (path / "archive.db").is_file()
