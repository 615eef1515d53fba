"""One case's rows, table by table: what an evidence package holds and its report shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ingest.errors import KhronikaError
from ingest.store import db as dbm


class NoSuchCase(KhronikaError):
    pass


@dataclass
class CaseRows:
    """The rows of one case, table by table, in primary-key order."""

    case: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]

    def keys(self) -> set[tuple[str, str]]:
        out = set()
        for table, rows in self.tables.items():
            pk = dbm.SCHEMA[table]["pk"]
            out.update((table, str(r[pk])) for r in rows)
        return out


def rows_in(db: sqlite_utils.Database, table: str, column: str, values: set[Any], order: str) -> list[dict[str, Any]]:
    values = {v for v in values if v is not None}
    if not values:
        return []
    marks = ",".join("?" * len(values))
    return list(db.query(f"SELECT * FROM [{table}] WHERE [{column}] IN ({marks}) ORDER BY {order}", sorted(values)))


def case_rows(db: sqlite_utils.Database, case_id: str) -> CaseRows:
    cases = list(db.query("SELECT * FROM cases WHERE id = ?", [case_id]))
    if not cases:
        known = ", ".join(r["id"] for r in db.query("SELECT id FROM cases ORDER BY id")) or "none"
        raise NoSuchCase(f'no case "{case_id}" in this archive (cases: {known})')
    case = cases[0]
    sources = list(db.query("SELECT * FROM sources WHERE case_id = ? ORDER BY id", [case_id]))
    sids = {s["id"] for s in sources}
    captures = rows_in(db, "captures", "source_id", sids, "id")
    attempts = rows_in(db, "attempts", "source_id", sids, "id")
    claims = list(db.query("SELECT * FROM claims WHERE case_id = ? ORDER BY id", [case_id]))
    citations = rows_in(db, "citations", "claim_id", {c["id"] for c in claims}, "claim_id, n")
    posts = rows_in(db, "telegram_posts", "source_id", sids, "capture_id")
    post_files = rows_in(db, "post_files", "source_id", sids, "id")  # a post's channel page and media
    # What other web archives held of the case's URLs (witness): lookups, copies, checks, submissions.
    witness = {t: rows_in(db, t, "source_id", sids, "id")
               for t in ("witness_lookups", "witness_captures", "witness_checks", "witness_submissions")}
    visibility = rows_in(db, "visibility", "citation_id", {c["id"] for c in citations}, "citation_id")
    blake3s = {c["blake3"] for c in captures} | {a["blake3"] for a in attempts} | {c["blake3"] for c in citations}
    blake3s |= {f["blake3"] for f in post_files}
    blake3s |= {w["blake3"] for w in witness["witness_captures"]}
    browsed = rows_in(db, "browser_captures", "source_id", sids, "id")
    marked = rows_in(db, "marked_screenshots", "citation_id", {c["id"] for c in citations}, "id")
    blake3s |= {m["blake3"] for m in marked}
    blake3s |= {b[k] for b in browsed for k in ("dom_blake3", "screenshot_blake3", "pdf_blake3", "provenance_blake3")}
    blake3s.add(case["case_file_blake3"])
    # Timestamps cover the whole log, not one case: every token travels, with its certificates and pins.
    stamps = list(db.query("SELECT * FROM timestamps ORDER BY id"))
    proofs = list(db.query("SELECT * FROM ots_proofs ORDER BY id"))
    blake3s |= {s[k] for s in stamps for k in ("token_blake3", "chain_blake3", "pin_blake3")}
    blake3s |= {p["proof_blake3"] for p in proofs}
    files = rows_in(db, "files", "blake3", blake3s, "blake3")
    extractions = rows_in(db, "extractions", "blake3", {f["blake3"] for f in files}, "id")
    warcs = rows_in(db, "warcs", "name", {c["warc_file"] for c in captures} | {a["warc_file"] for a in attempts}
                    | {f["warc_file"] for f in post_files}
                    | {r["warc_file"] for rs in witness.values() for r in rs if "warc_file" in r}, "name")
    drift_checks = rows_in(db, "drift_checks", "citation_id", {c["id"] for c in citations}, "id")
    people = list(db.query("SELECT * FROM people WHERE case_id = ? ORDER BY id", [case_id]))
    claim_ids = {c["id"] for c in claims}
    return CaseRows(case, {
        "claim_origins": rows_in(db, "claim_origins", "claim_id", claim_ids, "claim_id, n"),
        "origin_links": rows_in(db, "origin_links", "claim_id", claim_ids, "claim_id, n"),
        "files": files, "cases": [case], "sources": sources, "warcs": warcs, "captures": captures,
        "attempts": attempts, "extractions": extractions, "claims": claims, "citations": citations,
        "drift_checks": drift_checks,
        "timestamps": stamps, "ots_proofs": proofs, "people": people, "telegram_posts": posts,
        "post_files": post_files, **witness, "visibility": visibility,
        "browser_captures": browsed, "marked_screenshots": marked,
    })


def entry_belongs(entry: dict[str, Any], keys: set[tuple[str, str]], case_id: str) -> bool:
    table, key = entry.get("table"), entry.get("key")
    if not table:
        return False
    if (table, str(key)) in keys:
        return True
    return table in ("sources", "claims", "citations", "people", "visibility") and str(key).startswith(case_id + "/")


def reduced(entry: dict[str, Any]) -> dict[str, Any]:
    return {"seq": entry.get("seq"), "hash": entry.get("hash"), "prev": entry.get("prev")}
