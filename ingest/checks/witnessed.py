"""What the recorded witness checks say now: each citation's latest results per archive, in words for
verify, the claim page and the report. Never part of a claim's status or of verify's exit code."""

from __future__ import annotations

from typing import Any

# Each citation in force, with the results of the latest lookup of its source in each archive.
LATEST_SQL = """
SELECT wc.*, ci.claim_id, ci.n, w.blake3, w.memento_url, w.fetched_url, w.media_type
FROM witness_checks wc
JOIN citations ci ON ci.id = wc.citation_id
JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0 {where}
LEFT JOIN witness_captures w ON w.id = wc.witness_capture_id
WHERE wc.lookup_id = (SELECT max(l.id) FROM witness_lookups l WHERE l.source_id = wc.source_id AND l.archive = wc.archive)
ORDER BY ci.claim_id, ci.n, wc.archive, wc.id
"""
ORDER = ("witnessed", "differs", "absent", "unreachable", "no_memento")


def latest(db: Any, claim_id: str | None = None) -> list[dict[str, Any]]:
    """The latest witness results (every claim's, or one claim's), oldest archive row first."""
    if "witness_checks" not in db.table_names():  # a database made before witnesses were kept
        return []
    where, params = ("AND cl.id = ?", [claim_id]) if claim_id else ("", [])
    return [dict(r) for r in db.query(LATEST_SQL.format(where=where), params)]


def by_citation(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["citation_id"], []).append(r)
    return out


def summary_state(rows: list[dict[str, Any]], intact: set[str] | None = None) -> str:
    """One citation's standing among witnesses: the best result any archive gave. A witnessed copy
    whose file is missing or altered (when `intact` is known) no longer counts: `unverifiable`."""
    results = {"unverifiable" if r["result"] == "witnessed" and intact is not None and r["blake3"] not in intact
               else r["result"] for r in rows}
    for state in ("witnessed", "differs", "absent", "unverifiable", "unreachable", "no_memento"):
        if state in results:
            return state
    return "unverifiable"


def phrase(r: dict[str, Any], ours_found: bool = True) -> str:
    """One result as the claim page and the report say it (`ours_found`: whether our own archived
    copy holds the quote, so that "also" is said only when it does)."""
    copy = f"{r['archive']}'s copy of {r['memento_datetime']} ({r['relation']} our capture)"
    if r["result"] == "witnessed":
        return f"Also present in {copy}." if ours_found else f"Present in {copy}, though not found in our archived copy."
    if r["result"] == "differs":
        return f"The passage differs in {copy}."
    if r["result"] == "absent":
        return f"Not in {copy}."
    if r["result"] == "no_memento":
        return f"{r['archive']} holds no copy of this page."
    return f"{r['archive']} could not be used: {r['detail']}"


def verify_lines(db: Any, intact: set[str]) -> tuple[list[str], dict[str, Any]]:
    """verify's witness lines (warnings for what differs or is absent, then one count) and the same as JSON."""
    rows = latest(db)
    if not rows:
        return [], {}
    lines = []
    for r in rows:
        if r["result"] in ("differs", "absent"):
            lines.append(f"warning witness {r['result']} citation {r['citation_id']}: {r['detail']}")
        elif r["result"] == "witnessed" and r["blake3"] not in intact:
            lines.append(f"warning witness unverifiable citation {r['citation_id']}: the copy it was witnessed in "
                         f"({r['blake3'][:12]}) is missing or altered, so it no longer counts")
    states = {cid: summary_state(rs, intact) for cid, rs in by_citation(rows).items()}
    counts = {s: sum(1 for v in states.values() if v == s) for s in (*ORDER, "unverifiable")}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s != "unverifiable")
    lines.append(f"witnesses: {len(states)} citation(s) looked up in other web archives: {shown} (independent "
                 "support or warnings; never in the exit code, never a claim's status)")
    return lines, {"counts": counts, "citations": states}


def latest_in(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The same as `latest`, by citation, from one case's rows (an evidence package's)."""
    last: dict[tuple[str, str], int] = {}
    for lk in tables.get("witness_lookups", []):
        key = (lk["source_id"], lk["archive"])
        last[key] = max(last.get(key, 0), lk["id"])
    copies = {c["id"]: c for c in tables.get("witness_captures", [])}
    out: list[dict[str, Any]] = []
    for wc in tables.get("witness_checks", []):
        if last.get((wc["source_id"], wc["archive"])) == wc["lookup_id"]:
            copy = copies.get(wc["witness_capture_id"]) or {}
            out.append({**wc, "blake3": copy.get("blake3"), "memento_url": copy.get("memento_url")})
    return by_citation(out)
