"""The case's WARC records for a bag: every record of each capture and attempt, copied byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ingest.errors import KhronikaError
from ingest.evidence.rows import CaseRows
from ingest.store.warcs import RecordPlace, WarcReadError
from ingest.store.warcs import records as warc_records


class WarcCopyError(KhronikaError):
    pass


def _capture_places(places: list[RecordPlace], index: dict[int, int], at: int, row: dict[str, Any],
                    where: str) -> list[tuple[str, RecordPlace]]:
    """The records of one capture or attempt whose last response (or revisit, or resource) is at
    offset `at`: every redirect hop before it (response, request), it, and its request.

    The runner writes a fetch's hops one after the other, so the hops are the records just
    before the last response; each is checked against the hop recorded in the row (its URL, and
    the request that belongs to the response) before it goes into the bag."""
    if at not in index:
        raise WarcCopyError(f"{where}: no WARC record starts at offset {at}")
    k = index[at]
    hops = json.loads(row["hops"]) if row.get("hops") else []
    if not hops:  # a local document: one resource record, no request
        return [("final", places[k])]
    first = k - 2 * (len(hops) - 1)
    group = places[first:k + 2] if first >= 0 else []
    pairs = [group[i:i + 2] for i in range(0, len(group), 2)]
    if len(pairs) != len(hops) or not all(
            len(pair) == 2 and pair[0].warc_type in ("response", "revisit") and pair[0].target_uri == hop["url"]
            and pair[0].headers.get("WARC-Date") == hop["started_at"]
            and pair[1].warc_type == "request" and pair[1].concurrent_to == pair[0].record_id
            for pair, hop in zip(pairs, hops)):
        raise WarcCopyError(f"{where}: the WARC records before offset {at} are not the {len(hops)} recorded hop(s)")
    out = []
    for n, (resp, req) in enumerate(pairs):
        out += [("final" if n == len(pairs) - 1 else "redirect", resp), ("request", req)]
    return out


def copy_warc_records(archive_root: Path, rows: CaseRows, target: Path) -> list[dict[str, Any]]:
    """Copy every record of the case's captures and attempts (redirect hops, final exchange,
    resource records), each archive WARC file's warcinfo record first; return their places."""
    wanted: dict[str, dict[int, tuple[str, str, dict[str, Any]]]] = {}
    # post_files: a Telegram post's channel page and media; witness lookups, copies and submissions are
    # HTTP exchanges written by the same runner.
    for table in ("captures", "attempts", "post_files", "witness_lookups", "witness_captures", "witness_submissions"):
        for r in rows.tables.get(table, []):
            if r["warc_file"] and r["warc_offset"] is not None:
                wanted.setdefault(r["warc_file"], {}).setdefault(r["warc_offset"], (table, str(r["id"]), r))
    records: list[dict[str, Any]] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for name in sorted(wanted):
            path = archive_root / "warc" / name
            if "/" in name or not path.is_file():
                raise WarcCopyError(f"WARC file {name} referenced by the case is missing from the archive")
            try:
                places = warc_records(path)
            except WarcReadError as exc:
                raise WarcCopyError(f"WARC file {name}: {exc}") from None
            index = {p.offset: i for i, p in enumerate(places)}
            chosen: dict[int, tuple[str, str, RecordPlace]] = {}
            if places and places[0].warc_type == "warcinfo":
                chosen[places[0].offset] = ("warcinfo", name, places[0])
            for offset, (table, key, row) in sorted(wanted[name].items()):
                for role, place in _capture_places(places, index, offset, row, f"WARC file {name} ({table} {key})"):
                    what, ref = {"final": (table, key)}.get(role, (role, f"{table} {key}"))
                    chosen.setdefault(place.offset, (what, ref, place))
            with open(path, "rb") as fh:
                for offset, (what, ref, rec) in sorted(chosen.items()):
                    fh.seek(offset)
                    data = fh.read(rec.length)
                    records.append({
                        "n": len(records) + 1, "refers_to": what, "ref_key": ref, "warc_file": name,
                        "warc_offset": rec.offset, "length": len(data), "bag_offset": out.tell(),
                        "warc_type": rec.warc_type, "record_id": rec.record_id, "target_uri": rec.target_uri,
                        "sha256": hashlib.sha256(data).hexdigest(),
                    })
                    out.write(data)
    return records
