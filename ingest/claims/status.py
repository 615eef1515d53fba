"""Claims and citations: record them, anchor each quote in one capture, compute claim status.

What an anchored citation proves: the quoted words are present in an intact archived copy of
the source captured at time T. It does not prove the claim true.
"""

from __future__ import annotations

import json
from dataclasses import replace
from collections.abc import Collection
from typing import Any

from ingest.claims.anchor import Anchor, anchor, needed_rules
from ingest.claims.blocks import describe, gate, runs_for
from ingest.claims import origins
from ingest.claims.cases import Case, Citation, Claim
from ingest.claims.verdict import HIDDEN, INTERACTION, UNCHECKED, is_html
from ingest.store import db as dbm
from ingest.store.archive import Archive
from ingest.store.files import blake3_of
from ingest.store.log import utcnow
from ingest.text.extraction import PAGE_SEPARATOR
from ingest.text.metatext import part_at
from ingest.text.ocr import OCR_DISABLED

FOUND = ("exact", "normalized")
# When no capture holds the quote, keep the most informative result.
RANK = {"spans_blocks": 5, "fuzzy": 4, "ambiguous": 3, "not_found": 2, "unverifiable": 1}
# Inside the caller's batch, the log entries of this many claims are made durable together and
# let go: a case of thousands of claims does not hold all their entries in memory until its end
# (a crash loses at most the claims since the last group, which the next run records again).
SYNC_EVERY = 256


def claim_key(case_id: str, claim_id: str) -> str:
    return f"{case_id}/{claim_id}"


def record_claims(archive: Archive, case: Case, done: Collection[str] = ()) -> dict[str, int]:
    """Record the case's claims and citations, anchor them, update statuses; return counts by status.

    `done`: claims already recorded, anchored and given their status in this run, with every
    source they cite settled since (claims/ahead): gone through again, they would be found unchanged."""
    db = archive.db
    keys = set()
    for n, claim in enumerate(case.claims, 1):
        key = claim_key(case.id, claim.id)
        keys.add(key)
        if key not in done:
            record_claim(archive, case, claim, key)
        if n % SYNC_EVERY == 0:
            archive.sync()
    for row in list(db.query("SELECT * FROM claims WHERE case_id = ? AND withdrawn = 0", [case.id])):
        if row["id"] not in keys:
            logged = {k: v for k, v in row.items() if k not in dbm.DERIVED["claims"]}
            logged.update(withdrawn=1, recorded_at=utcnow())
            archive.record("claim_withdrawn", "claims", row["id"], logged)
    counts: dict[str, int] = {}
    for n, key in enumerate(sorted(keys), 1):
        if key in done:
            status = db.execute("SELECT status FROM claims WHERE id = ?", [key]).fetchone()[0]
        else:
            status = update_status(archive, key)
        counts[status] = counts.get(status, 0) + 1
        if n % SYNC_EVERY == 0:
            archive.sync()
    return counts


def record_claim(archive: Archive, case: Case, claim: Claim, key: str) -> None:
    record_claim_row(archive, case, claim, key)
    record_citations(archive, case, claim, key)


def record_claim_row(archive: Archive, case: Case, claim: Claim, key: str) -> None:
    """The claim's own row (not its citations), recorded when it changed."""
    row = {
        "id": key, "case_id": case.id, "slug": claim.id, "text": claim.text, "date": claim.date,
        "date_note": claim.date_note, "type": claim.type, "people": json.dumps(list(claim.people), ensure_ascii=False),
        "withdrawn": 0, "recorded_at": utcnow(),
    }
    old = dbm.get_row(archive.db, "claims", key)
    if dbm.differs(old, row, ("recorded_at",)):
        archive.record("claim_recorded" if old is None else "claim_revised", "claims", key, row)


def record_citations(archive: Archive, case: Case, claim: Claim, key: str) -> None:
    """The claim's citations, anchored and recorded when they changed; those no longer in the case file withdrawn."""
    wanted = set()
    for n, citation in enumerate(claim.citations, 1):
        cid = f"{key}#{n}"
        wanted.add(cid)
        _record_citation(archive, case, key, n, cid, citation)
    for (stale,) in archive.db.execute("SELECT id FROM citations WHERE claim_id = ?", [key]).fetchall():
        if stale not in wanted:
            # A citation removed from the case file is withdrawn with its claim's revision.
            archive.record("citation_withdrawn", "citations", stale, None)


def _record_citation(archive: Archive, case: Case, claim_key_: str, n: int, cid: str, c: Citation) -> None:
    source_id = f"{case.id}/{c.source}"
    definition = {
        "id": cid, "claim_id": claim_key_, "n": n, "source_id": source_id, "quote": c.quote, "stance": c.stance,
        "prefix": c.prefix, "suffix": c.suffix, "page": c.page, "capture_requested": c.capture,
        "spans": c.spans,
    }
    old = dbm.get_row(archive.db, "citations", cid)
    same_definition = old is not None and not dbm.differs(old, definition, ())
    if same_definition and old["match"] in FOUND and _keeps_to_blocks(archive, old):
        return  # the binding never moves
    result, capture, extraction = _CITED.pop((str(archive.root), source_id, c), None) or anchor_citation(archive, source_id, c)
    row = dict(definition)
    row.update(
        capture_id=capture["id"] if capture else None,
        blake3=capture["blake3"] if capture else None,
        extraction_id=extraction["id"] if extraction else None,
        text_blake3=extraction["text_blake3"] if extraction else None,
        match=result.match, start=result.start, end=result.end, exact=result.exact,
        selector_prefix=result.prefix, selector_suffix=result.suffix,
        rules=json.dumps(list(needed_rules(result.exact, c.quote, result.rules) if result.found else result.rules)),
        score=result.score,
        candidates=json.dumps(list(result.candidates)) if result.candidates else None,
        found_page=result.page, reason=result.reason, anchored_at=utcnow(),
        crossed=json.dumps(list(result.crossed), ensure_ascii=False) if result.crossed else None,
        found_in_metadata=_metadata_part(extraction, result),
        ocr=int(extraction is not None and extraction["extractor"] == "tesseract"),
    )
    if dbm.differs(old, row, ("anchored_at",)):
        archive.record("citation_recorded", "citations", cid, row)


def _keeps_to_blocks(archive: Archive, old: dict[str, Any]) -> bool:
    """Whether a found citation was anchored against recorded blocks and keeps to them: one
    anchored before blocks were kept (or into an extraction since superseded) is anchored again."""
    row = archive.db.execute("SELECT blocks FROM extractions WHERE id = ?", [old["extraction_id"]]).fetchone()
    if row is None or row[0] is None:
        return False
    return gate(old, runs_for({"blocks": row[0], "text": None, "extractor": None})[0])[0]


def _metadata_part(extraction: dict[str, Any] | None, result: Anchor) -> str | None:
    """The label of the page-metadata part the quote was found in (og:description ...), or None."""
    if not result.found or extraction is None or not extraction.get("metadata"):
        return None
    return part_at(json.loads(extraction["metadata"]).get("parts"), result.start or 0, result.end or 0)


def _unverifiable(reason: str) -> Anchor:
    return Anchor("unverifiable", None, None, None, None, None, (), None, (), None, reason)


def anchor_citation(archive: Archive, source_id: str, c: Citation) -> tuple[Anchor, dict[str, Any] | None, dict[str, Any] | None]:
    """Anchor in the named capture, else the earliest capture whose text holds the quote."""
    db = archive.db
    source = dbm.get_row(db, "sources", source_id)
    captures = dbm.all_rows(db, "SELECT * FROM captures WHERE source_id = ? ORDER BY version", [source_id])
    if c.capture:
        captures = [cap for cap in captures if cap["blake3"].startswith(c.capture)]
        if not captures:
            return _unverifiable(f'no capture of {source_id} has a BLAKE3 starting with "{c.capture}"'), None, None
        if len({cap["blake3"] for cap in captures}) > 1:
            return _unverifiable(f'capture prefix "{c.capture}" matches several captures of {source_id}; give more digits'), None, None
        captures = captures[:1]
    if not captures:
        if source is not None and source["wanted"]:
            return _unverifiable(f"{source_id} has no capture: it is wanted (address not yet known)"), None, None
        return _unverifiable(f"{source_id} has no capture yet"), None, None
    best: tuple[Anchor, dict[str, Any] | None, dict[str, Any] | None] | None = None
    for cap in captures:
        result, extraction = anchor_in_capture(db, cap["blake3"], c)
        if result.found:
            return result, cap, extraction
        if best is None or RANK[result.match] >= RANK[best[0].match]:
            best = (result, cap, extraction)
    assert best is not None
    return best


def anchor_in_capture(db: Any, blake3: str, c: Citation) -> tuple[Anchor, dict[str, Any] | None]:
    """Anchor in a capture's text layer, then in its OCR text (pages without a text layer, images).

    A capture with no text at all (no text layer, and OCR off, missing or failed) is
    `unverifiable` with that reason, never `not_found`: nobody has read it.
    """
    layer = latest_extraction(db, blake3)
    tried: list[tuple[Anchor, dict[str, Any]]] = []
    if layer is not None and _has_text(layer):
        result = _anchor(layer, c)
        if result.found:
            return result, layer
        tried.append((result, layer))
    ocr = latest_extraction(db, blake3, ocr=True)  # looked up only when the text layer did not hold the quote
    meta = json.loads(layer["metadata"]) if layer is not None and layer["metadata"] else {}
    unread = layer is None or layer["text"] is None or meta.get("text_layer") in ("none", "partial")
    if unread and ocr is not None and _has_text(ocr):
        result = _anchor(ocr, c)
        if result.found:
            return result, ocr
        tried.append((replace(result, reason=f"in the OCR text: {result.reason}"), ocr))
        unread = False
        ometa = json.loads(ocr["metadata"]) if ocr["metadata"] else {}
        failed = sorted(ometa.get("page_errors", {}), key=int)
        if failed or ometa.get("pages_not_ocred"):  # the quote may be on a page nobody read
            why = f"OCR failed on page(s) {', '.join(failed)}" if failed else "pages beyond the OCR page limit were not read"
            return _unverifiable(f"not in the text that could be read ({result.reason}); {why}"), ocr
    if tried and not unread:
        return max(tried, key=lambda t: RANK[t[0].match])
    return _unverifiable(_no_text(blake3, layer, ocr, meta, tried[0][0] if tried else None)), None


def _has_text(extraction: dict[str, Any]) -> bool:
    text = extraction["text"]
    return text is not None and bool(text.replace(PAGE_SEPARATOR, "").strip())


# Anchors found ahead of the claim phase, while the run's workers extract (`warm_anchor`): an
# anchor is a function of the extraction (a row never rewritten once it has its text) and of
# what the citation asks, so one found early is the one the claim phase would find.
_ANCHORS: dict[tuple[Any, ...], Anchor] = {}
ANCHORS_KEPT = 50_000


# Citations anchored ahead (`warm_citation`), of sources no more is captured or extracted of
# before the claim phase, with the capture and extraction rows they were anchored in (less the
# extraction's text and blocks, which recording a citation does not read).
_CITED: dict[tuple[str, str, Citation], tuple[Anchor, dict[str, Any] | None, dict[str, Any] | None]] = {}


def forget_ahead() -> None:
    """Drop what was found ahead: a run does at its start and its end (found for its archive only)."""
    _CITED.clear()
    _ANCHORS.clear()


def warm_citation(archive: Archive, source_id: str, c: Citation) -> None:
    """Anchor a citation now, for recording it later in this run: only for a source nothing more
    will be captured or extracted of before then (the caller knows)."""
    if len(_CITED) < ANCHORS_KEPT:
        result, capture, extraction = anchor_citation(archive, source_id, c)
        if extraction is not None:
            extraction = {k: v for k, v in extraction.items() if k not in ("text", "blocks")}
        _CITED[(str(archive.root), source_id, c)] = (result, capture, extraction)


def _anchor_key(extraction: dict[str, Any], c: Citation) -> tuple[Any, ...]:
    return (extraction["id"], extraction["text_blake3"], c.quote, c.prefix, c.suffix, c.page, c.spans)


def warm_anchor(extraction: dict[str, Any], c: Citation) -> None:
    """Anchor the citation in the extraction now, for the claim phase to take (idle time of a run)."""
    if _has_text(extraction) and len(_ANCHORS) < ANCHORS_KEPT:
        _ANCHORS[_anchor_key(extraction, c)] = _find(extraction, c)


def _anchor(extraction: dict[str, Any], c: Citation) -> Anchor:
    found = _ANCHORS.pop(_anchor_key(extraction, c), None)
    return found if found is not None else _find(extraction, c)


def _find(extraction: dict[str, Any], c: Citation) -> Anchor:
    pages = json.loads(extraction["pages"]) if extraction["pages"] else None
    return anchor(extraction["text"], c.quote, prefix=c.prefix, suffix=c.suffix, pages=pages, page=c.page,
                  blocks=runs_for(extraction)[0], accept=c.spans)


def _no_text(blake3: str, layer: dict[str, Any] | None, ocr: dict[str, Any] | None, meta: dict[str, Any],
             in_layer: Anchor | None) -> str:
    """Why a capture's words could not be read, for an unverifiable citation."""
    cap = f"capture {blake3[:12]}"
    if ocr is None:
        why = "it has not been OCR'd"
    elif ocr["error"] == OCR_DISABLED:
        why = "OCR is disabled (run --no-ocr)"
    elif ocr["error"]:
        why = f"OCR gave no text: {ocr['error']}"
    else:
        why = "OCR read no text in it"
    if in_layer is not None:
        pages = meta.get("pages_without_text", [])
        which = f"page {pages[0]} has" if len(pages) == 1 else f"pages {', '.join(map(str, pages))} have"
        return f"not in the text layer ({in_layer.reason}); {which} no text layer and {why}"
    if layer is not None and meta.get("text_layer") == "none":
        return f"{cap} is a PDF without a text layer and {why}"
    if layer is None and ocr is not None:
        return f"{cap} is an image and {why}"
    why_layer = layer["error"] if layer is not None and layer["error"] else "not extracted"
    return f"{cap} has no text ({why_layer})"


def latest_extraction(db: Any, blake3: str, ocr: bool = False) -> dict[str, Any] | None:
    """The newest extraction of a file (a successful one first): of its text layer, or with
    `ocr` of its OCR text."""
    return dbm.first_row(db, "SELECT * FROM extractions WHERE blake3 = ? AND (extractor = 'tesseract') = ? "
                             "ORDER BY (error IS NULL) DESC, id DESC LIMIT 1", [blake3, int(ocr)])


def compute_status(citations: list[dict[str, Any]], intact: set[str] | None = None,
                   refused: set[str] | None = None) -> tuple[str, str, int]:
    """(status, reason, distinct supporting outlets) for one claim's citation rows.

    `intact`, when given, is the set of capture BLAKE3s whose files passed fixity; a citation
    anchored in any other capture does not count as found, nor does one whose id is in
    `refused` (the quote gate did not pass it).
    """
    supporting = [c for c in citations if c["stance"] == "supports"]
    def ok(c: dict[str, Any]) -> bool:
        return counts(c, intact, refused)
    found = [c for c in supporting if ok(c)]
    outlets = {c.get("outlet") or c["source_id"] for c in found}
    if any(c["stance"] == "contradicts" for c in citations):
        return "contested", "a contradicting citation exists", len(outlets)
    in_meta = sorted({c["found_in_metadata"] for c in found if c.get("found_in_metadata")})
    meta = (f"; {sum(1 for c in found if c.get('found_in_metadata'))} of them only in the page's metadata "
            f"({', '.join(in_meta)}), not in its visible text") if in_meta else ""
    joined = "".join(f"; citation {c['n']} {describe(json.loads(c['crossed']), True)}" for c in found if c.get("crossed"))
    # A cut can only take words away, so a quote found in a close-delimited capture is there; but
    # what followed it (a correction, a retraction) may be missing, and the reason says so.
    joined += "".join(f"; citation {c['n']} ({c['source_id']}): its capture's completeness is unchecked "
                      "(close-delimited body: a cut connection looks like the end of the page)"
                      for c in found if c.get("completeness") == "unchecked")
    # A quote read only by OCR counts as found, and the reason says so wherever it is shown.
    read = [str(c["n"]) for c in found if c.get("ocr")]
    by_ocr = (f" (citation{'s' if len(read) > 1 else ''} {', '.join(read)} found in OCR text: "
              "compare with the page image)") if read else ""
    joined += "".join(f"; citation {c['n']} ({c['source_id']}) is visible only on interaction: {c['v_reason']}"
                      for c in found if c.get("v_state") == INTERACTION)
    if supporting and len(found) == len(supporting):
        return "sourced", f"all {len(supporting)} supporting quote(s) present in archived captures{by_ocr}{meta}{joined}", len(outlets)
    missing = "; ".join(f"citation {c['n']} ({c['source_id']}): {_why_not(c, intact)}" for c in supporting if not ok(c))
    if found:
        return "partly_sourced", f"{len(found)} of {len(supporting)} supporting quotes present{by_ocr}{meta}; {missing}{joined}", len(outlets)
    if not supporting:
        return "unsourced", "no supporting citation", 0
    return "unsourced", f"no supporting quote present; {missing}", 0


def counts(c: dict[str, Any], intact: set[str] | None = None, refused: set[str] | None = None) -> bool:
    """Whether a citation's quote counts as found: anchored, in an intact capture, passed by the quote gate, seen."""
    return c["match"] in FOUND and (intact is None or c["blake3"] in intact) and c["id"] not in (refused or ()) \
        and seen(c) is None


def _why_not(c: dict[str, Any], intact: set[str] | None) -> str:
    if c["match"] not in FOUND:
        return c["reason"]
    if intact is not None and c["blake3"] not in intact:
        return f"its capture {c['blake3']} is missing or altered"
    return seen(c) or "the quote check did not pass it (see verify)"


def seen(c: dict[str, Any]) -> str | None:
    """Why a found quote does not count, as far as readers' eyes go; None when it counts.

    An HTML quote counts only once judged visible (or visible on interaction) in its capture; one
    found only in the page's metadata is not judged (its own flag says where it was found)."""
    if c["match"] not in FOUND or not is_html(c.get("media_type")) or c.get("found_in_metadata"):
        return None
    if c.get("v_state") is None or c.get("v_blake3") != c["blake3"]:
        return "visibility not yet checked"
    if c["v_state"] == HIDDEN:
        return f"present only in text hidden from readers: {c['v_reason']}"
    if c["v_state"] == UNCHECKED:
        return f"visibility unchecked: {c['v_reason']}"
    return None


# A claim's citations with what status needs: the source's outlet, the capture's completeness and
# media type, and the quote's visibility.
STATUS_SQL = (
    "SELECT citations.*, sources.outlet, captures.completeness, files.media_type, v.state AS v_state, "
    "v.reason AS v_reason, v.blake3 AS v_blake3 FROM citations "
    "JOIN sources ON sources.id = citations.source_id LEFT JOIN captures ON captures.id = citations.capture_id "
    "LEFT JOIN files ON files.blake3 = citations.blake3 "
    "LEFT JOIN visibility v ON v.citation_id = citations.id WHERE claim_id = ? ORDER BY n")


def update_status(archive: Archive, key: str, intact: set[str] | None = None,
                  refused: set[str] | None = None) -> str:
    rows = dbm.all_rows(archive.db, STATUS_SQL, [key])
    status, reason, _outlets = compute_status(rows, intact, refused)
    found = [c for c in rows if c["stance"] == "supports" and counts(c, intact, refused)]
    grouped = origins.group(origins.members_for(archive.db, archive.store, found))
    archive.db.execute(
        "UPDATE claims SET status = ?, status_reason = ?, supporting_outlets = ?, origins = ? WHERE id = ?",
        [status, reason, len(grouped.origins), grouped.summary, key],
    )
    origins.store(archive.db, key, grouped)
    archive.commit()
    return status


def claims_up_to_date(archive: Archive, case: Case) -> dict[str, int] | None:
    """Claim counts by status if nothing was recorded since the case's claims were last brought
    up to date from this very case file; else None."""
    row = archive.db.execute("SELECT case_file_blake3, log_seq FROM claims_state WHERE case_id = ?", [case.id]).fetchone()
    if row is None or row[0] != blake3_of(case.raw) or row[1] != archive.log.head().seq:
        return None
    counts: dict[str, int] = {}
    for status, n in archive.db.execute(
            "SELECT status, count(*) FROM claims WHERE case_id = ? AND withdrawn = 0 GROUP BY status", [case.id]):
        counts[status] = n
    return counts


def mark_claims_done(archive: Archive, case: Case) -> None:
    """Note the log head the case's claims are now up to date with."""
    with archive.db.conn:
        dbm.upsert(archive.db, "claims_state", {
            "case_id": case.id, "case_file_blake3": blake3_of(case.raw), "log_seq": archive.log.head().seq})
