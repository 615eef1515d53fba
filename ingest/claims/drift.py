"""Drift: what each source did after the capture a citation is anchored in, and a claim's standing from it.

A citation stays bound to the capture it was anchored in (that copy is the evidence). Each time
its source gets a later capture or attempt, the quote is looked for there and the finding is
logged as a `drift_checks` row: quote_present, quote_changed (with the diff of the passage),
quote_removed, page_gone or unreachable. `citation_drift` (kept by triggers, see store/db) holds
each citation's latest finding and since when it holds; a claim's `drift` is the worst of its
supporting citations': none, changed, removed, gone or unreachable, with the date first seen.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any

from ingest.claims.cases import Citation
from ingest.claims.status import anchor_in_capture
from ingest.store.archive import Archive
from ingest.store.log import utcnow

PRESENT, CHANGED, REMOVED, GONE, UNREACHABLE = "quote_present", "quote_changed", "quote_removed", "page_gone", "unreachable"
FINDINGS = (PRESENT, CHANGED, REMOVED, GONE, UNREACHABLE)
# A finding as a claim's drift, and which one a claim shows when its citations differ.
KIND = {CHANGED: "changed", REMOVED: "removed", GONE: "gone", UNREACHABLE: "unreachable"}
RANK = {"none": 0, "unreachable": 1, "changed": 2, "gone": 3, "removed": 4}
PHRASE = {
    "changed": "the quoted sentence was changed on the live page",
    "removed": "the quoted sentence was removed from the live page",
    "gone": "the live page was gone",
    "unreachable": "the live page could not be reached",
}

# Citations in force whose source's latest attempt came after the capture they are anchored in
# and has not been checked for them yet.
DUE_SQL = """
WITH latest AS (SELECT source_id, max(id) AS aid FROM attempts GROUP BY source_id)
SELECT ci.id, ci.source_id, ci.capture_id AS anchored, ci.quote, ci.prefix, ci.suffix, ci.page, ci.exact, ci.spans,
       a.id AS attempt_id, a.outcome, a.error, a.capture_id AS attempt_capture, a.started_at
FROM citations ci JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0
JOIN latest l ON l.source_id = ci.source_id JOIN attempts a ON a.id = l.aid
WHERE ci.match IN ('exact', 'normalized') {where}
  AND (a.capture_id IS NOT ci.capture_id OR a.outcome = 'unchanged')  -- not the attempt that made the anchored capture
  AND NOT EXISTS (SELECT 1 FROM drift_checks d WHERE d.citation_id = ci.id AND d.attempt_id = a.id)
ORDER BY ci.source_id, ci.claim_id, ci.n
"""


def check_citations(archive: Archive, *, case_id: str | None = None,
                    source_ids: set[str] | None = None) -> list[dict[str, Any]]:
    """Check every due citation against its source's latest capture or attempt; log and return each finding."""
    where, params = "", []
    if case_id is not None:
        where = "AND cl.case_id = ?"
        params = [case_id]
    due = [r for r in archive.db.query(DUE_SQL.format(where=where), params)
           if source_ids is None or r["source_id"] in source_ids]
    recorded = []
    captures: dict[int, dict[str, Any]] = {}
    for c in due:
        row = _finding(archive, c, captures)
        nid = archive.db.execute("SELECT coalesce(max(id), 0) + 1 FROM drift_checks").fetchone()[0]
        row = {"id": nid, "citation_id": c["id"], "source_id": c["source_id"], "anchored_capture_id": c["anchored"],
               "attempt_id": c["attempt_id"], "observed_at": c["started_at"], "checked_at": utcnow(), **row}
        archive.record("drift_check", "drift_checks", str(nid), row)
        recorded.append(row)
    return recorded


def _finding(archive: Archive, c: dict[str, Any], captures: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """finding, capture_id, blake3, extraction_id, detail and diff for one citation and attempt."""
    out: dict[str, Any] = {"capture_id": None, "blake3": None, "extraction_id": None, "diff": None}
    if c["outcome"] == "gone":
        return {**out, "finding": GONE, "detail": f"gone: {c['error']}"}
    if c["attempt_capture"] is None:  # a failed attempt (an incomplete capture still has bytes to look in)
        return {**out, "finding": UNREACHABLE, "detail": f"{c['outcome']}: {c['error']}"}
    cid = c["attempt_capture"]
    if cid not in captures:
        captures[cid] = dict(zip(("id", "version", "blake3"), archive.db.execute(
            "SELECT id, version, blake3 FROM captures WHERE id = ?", [cid]).fetchone()))
    cap = captures[cid]
    out.update(capture_id=cid, blake3=cap["blake3"])
    version = f"version {cap['version']} ({cap['blake3'][:12]})"
    if cid == c["anchored"]:
        return {**out, "finding": PRESENT, "detail": f"unchanged: still the anchored {version}"}
    # The text layer first, then the OCR text, as anchoring does: a re-fetched scan is read too.
    cited = Citation(c["source_id"], c["quote"], "supports", 0, c["prefix"], c["suffix"], c["page"], spans=c["spans"])
    found, ex = anchor_in_capture(archive.db, cap["blake3"], cited)
    if ex is None or found.match == "unverifiable":
        return {**out, "finding": UNREACHABLE, "detail": f"{version} has no text ({found.reason})"}
    out["extraction_id"] = ex["id"]
    if ex["extractor"] == "tesseract":
        version += ", in its OCR text"
    if found.found or found.match == "ambiguous":
        where = f"at [{found.start}, {found.end})" if found.found else "at several places"
        return {**out, "finding": PRESENT, "detail": f"quote present ({found.match}) {where} of {version}"}
    if found.match == "fuzzy" and found.exact is not None:
        diff = "\n".join(difflib.unified_diff([c["exact"]], [found.exact], "archived", "live", lineterm=""))
        return {**out, "finding": CHANGED, "diff": diff,
                "detail": f"quote changed in {version}: now \u201c{found.exact}\u201d ({found.reason})"}
    return {**out, "finding": REMOVED, "detail": f"quote no longer in {version} ({found.reason})"}


# -- a claim's standing ---------------------------------------------------------------------------


CLAIM_DRIFT_SQL = """
SELECT ci.claim_id, ci.n, ci.source_id, d.finding, d.since, d.observed_at, d.detail
FROM citations ci JOIN citation_drift d ON d.citation_id = ci.id
WHERE ci.stance = 'supports' AND ci.match IN ('exact', 'normalized') AND d.finding != 'quote_present' {where}
ORDER BY ci.claim_id, ci.n
"""


def claim_drift(rows: list[dict[str, Any]]) -> tuple[str, str | None, str | None]:
    """(drift, since, reason) from one claim's citation_drift rows that are not quote_present."""
    if not rows:
        return "none", None, None
    worst = max((KIND[r["finding"]] for r in rows), key=RANK.__getitem__)
    since = min(r["since"] for r in rows if KIND[r["finding"]] == worst)
    reason = "; ".join(f"citation {r['n']} ({r['source_id']}): {PHRASE[KIND[r['finding']]]} "
                       f"(first seen {r['since']}): {r['detail']}" for r in rows)
    return worst, since, reason


def update_claims(archive: Archive, case_id: str | None = None) -> None:
    """Recompute the derived drift columns of a case's claims (every claim when case_id is None)."""
    db = archive.db
    where, params = ("AND ci.claim_id IN (SELECT id FROM claims WHERE case_id = ?)", [case_id]) if case_id else ("", [])
    by_claim: dict[str, list[dict[str, Any]]] = {}
    for r in db.query(CLAIM_DRIFT_SQL.format(where=where), params):
        by_claim.setdefault(r["claim_id"], []).append(r)
    claims = db.execute("SELECT id, drift, drift_since, drift_reason FROM claims" +
                        (" WHERE case_id = ?" if case_id else ""), params).fetchall()
    for cid, *old in claims:
        new = claim_drift(by_claim.get(cid, []))
        if tuple(old) != new:
            # On the connection itself: sqlite-utils would commit each UPDATE on its own.
            db.conn.execute("UPDATE claims SET drift = ?, drift_since = ?, drift_reason = ? WHERE id = ?", [*new, cid])
    archive.commit()


def standing(case_id: str, db: Any) -> dict[str, tuple[str, str | None, str]]:
    """Each claim in force of a case: (drift, since, status) as stored now."""
    return {r[0]: (r[1] or "none", r[2], r[3]) for r in db.execute(
        "SELECT id, drift, drift_since, status FROM claims WHERE case_id = ? AND withdrawn = 0", [case_id])}


def day(at: str | None) -> str:
    """'2026-06-03T10:00:00Z' as '3 June 2026' (the date part only)."""
    if not at:
        return "an unknown date"
    try:
        d = dt.date.fromisoformat(at[:10])
    except ValueError:
        return at
    return f"{d.day} {d:%B %Y}"


def banner(status: str, anchored_at: str | None, drift: str, since: str | None) -> str | None:
    """The sentence a claim page opens with when the live sources moved since the archived copy."""
    if drift in (None, "none"):
        return None
    what = {"sourced": "Sourced", "partly_sourced": "Partly sourced", "contested": "Contested"}.get(status)
    lead = f"{what} in the archived copy of {day(anchored_at)}" if what else f"{status.capitalize()} in the archive"
    return f"{lead}; {PHRASE[drift]} by {day(since)}."
