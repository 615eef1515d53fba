"""What the pages show of time: drift banners for claims and sources, addresses, and a claim's revisions from the log."""

from __future__ import annotations

import json
from typing import Any

from ingest.claims.drift import KIND, PHRASE, banner, day

DB = "archive"
CLAIM_FIELDS = ("text", "date", "date_note", "type", "people")
CITATION_FIELDS = ("source_id", "quote", "stance", "prefix", "suffix", "page", "capture_requested")


async def _rows(datasette: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    result = await datasette.get_database(DB).execute(sql, params or [])
    return [dict(r) for r in result.rows]


def drift_label(drift: str | None, since: str | None) -> str | None:
    """'removed since 3 June 2026', or None when there is no drift."""
    if not drift or drift == "none":
        return None
    return f"{drift} since {day(since)}"


async def claim_drift(datasette: Any, claim: dict[str, Any], cites: list[dict[str, Any]]) -> None:
    """Add the banner to the claim and each citation's current drift to it (in place)."""
    by_id = {r["citation_id"]: r for r in await _rows(datasette, """
        SELECT d.*, cap.version FROM citation_drift d LEFT JOIN captures cap ON cap.id = d.capture_id
        WHERE d.citation_id IN (SELECT id FROM citations WHERE claim_id = ?)""", [claim["id"]])}
    drifted = []
    for c in cites:
        d = by_id.get(c["id"])
        c["drift"] = d
        c["drift_phrase"] = PHRASE[KIND[d["finding"]]] if d and d["finding"] in KIND else None
        if d and d["finding"] in KIND and KIND[d["finding"]] == claim.get("drift"):
            drifted.append(c)
    # The archived copy named is the one the drifting citation is anchored in.
    anchored_at = min((c["captured_at"] for c in drifted if c["captured_at"]), default=None)
    claim["banner"] = banner(claim["status"] or "", anchored_at, claim.get("drift") or "none", claim.get("drift_since"))
    claim["drift_label"] = drift_label(claim.get("drift"), claim.get("drift_since"))


async def source_drift(datasette: Any, source: dict[str, Any], captures: list[dict[str, Any]],
                       attempts: list[dict[str, Any]]) -> None:
    """Banners for a source that is gone or whose live page no longer shows a cited quote; its addresses."""
    banners = []
    last = attempts[-1] if attempts else None
    if last is not None and last["outcome"] == "gone":
        banners.append(f"The live page was gone when last fetched on {day(last['started_at'])} ({last['error']}). "
                       "The archived copies below are kept.")
    elif last is not None and last["outcome"] not in ("captured", "unchanged"):
        banners.append(f"The live page could not be fetched on {day(last['started_at'])} ({last['outcome']}: {last['error']}).")
    drifted = await _rows(datasette, """
        SELECT d.citation_id, d.finding, d.since FROM citation_drift d JOIN citations ci ON ci.id = d.citation_id
        JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0
        WHERE d.source_id = ? AND d.finding IN ('quote_changed', 'quote_removed') ORDER BY d.citation_id""", [source["id"]])
    for d in drifted:
        banners.append(f"Citation {d['citation_id']}: {PHRASE[KIND[d['finding']]]} by {day(d['since'])}.")
    source["banners"] = banners
    addresses: dict[str, list[int]] = {}
    for cap in captures:
        addresses.setdefault(cap["url"] or cap["local_path"] or "", []).append(cap["version"])
    if source["url"] and source["url"] not in addresses:
        addresses[source["url"]] = []
    source["addresses"] = list(addresses.items()) if len(addresses) > 1 else []


def _changes(before: dict[str, Any] | None, after: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    if before is None:
        return []
    out = []
    for f in fields:
        if before.get(f) != after.get(f):
            old, new = before.get(f), after.get(f)
            if f == "people":
                old, new = ", ".join(json.loads(old or "[]")), ", ".join(json.loads(new or "[]"))
            out.append(f"{f}: {old if old not in (None, '') else '(none)'} → {new if new not in (None, '') else '(none)'}")
    return out


async def claim_history(datasette: Any, claim_id: str) -> list[dict[str, Any]]:
    """The claim's revisions and its citations' changes, from the log, oldest first."""
    entries = await _rows(datasette, """
        SELECT seq, time, event, table_name, key, entry FROM log
        WHERE (table_name = 'claims' AND key = ?) OR (table_name = 'citations' AND key > ? AND key < ?)
        ORDER BY seq""", [claim_id, claim_id + "#", claim_id + "#\uffff"])
    last: dict[str, dict[str, Any] | None] = {}
    out = []
    for e in entries:
        row = json.loads(e["entry"]).get("row")
        prev = last.get(e["key"])
        item = {"seq": e["seq"], "time": e["time"], "event": e["event"], "changes": []}
        if e["table_name"] == "claims":
            if e["event"] == "claim_recorded":
                item["what"] = "claim recorded"
                item["changes"] = [f"text: {row['text']}"]
            elif e["event"] == "claim_withdrawn":
                item["what"] = "claim withdrawn from its case file"
            else:
                item["what"] = "claim revised"
                item["changes"] = _changes(prev, row, CLAIM_FIELDS)
        else:
            n = e["key"].rsplit("#", 1)[-1]
            if row is None:
                item["what"] = f"citation {n} withdrawn"
            elif prev is None:
                item["what"] = f"citation {n} added"
                item["changes"] = [f"{row['stance']} from {row['source_id']}: \u201c{row['quote']}\u201d (match {row['match']})"]
            else:
                item["changes"] = _changes(prev, row, CITATION_FIELDS)
                if not item["changes"]:
                    item["what"] = f"citation {n} anchored again"
                    item["changes"] = [f"match: {prev.get('match')} → {row['match']}"]
                else:
                    item["what"] = f"citation {n} changed"
        last[e["key"]] = row
        out.append(item)
    return out
