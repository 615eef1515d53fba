"""The tables of independent witnesses: what other web archives hold of a URL source (see checks/witness)."""

from __future__ import annotations

from typing import Any

WITNESS_SCHEMA: dict[str, dict[str, Any]] = {
    "witness_lookups": dict(
        # One TimeMap asked of one archive for one source: found, no_memento or unreachable.
        columns={"id": int, "source_id": str, "archive": str, "timemap_url": str, "reference_at": str,
                 "outcome": str, "detail": str, "mementos": int, "status": int, "hops": str,
                 "warc_file": str, "warc_offset": int, "looked_up_at": str},
        pk="id",
        foreign_keys=[("source_id", "sources", "id")],
    ),
    "witness_captures": dict(
        # One memento fetched (raw where the archive allows): a capture of the witness kind when
        # outcome is "captured", else why it is not a copy of the cited page.
        columns={"id": int, "lookup_id": int, "source_id": str, "archive": str, "memento_url": str,
                 "listed_datetime": str, "relation": str, "fetched_url": str, "raw": int, "outcome": str,
                 "detail": str, "memento_datetime": str, "original_url": str, "final_url": str, "status": int,
                 "blake3": str, "media_type": str, "declared_type": str, "charset": str, "hops": str,
                 "tool": str, "fetched_at": str, "completeness": str, "warc_file": str, "warc_offset": int,
                 "warc_length": int},
        pk="id",
        foreign_keys=[("lookup_id", "witness_lookups", "id"), ("source_id", "sources", "id"),
                      ("blake3", "files", "blake3")],
    ),
    "witness_checks": dict(
        # A citation's quote looked for in a witness: witnessed, differs, absent, no_memento, unreachable.
        columns={"id": int, "citation_id": str, "source_id": str, "archive": str, "lookup_id": int,
                 "witness_capture_id": int, "result": str, "memento_datetime": str, "relation": str,
                 "extraction_id": int, "detail": str, "diff": str, "checked_at": str},
        pk="id",
        foreign_keys=[("lookup_id", "witness_lookups", "id"), ("witness_capture_id", "witness_captures", "id"),
                      ("extraction_id", "extractions", "id")],
    ),
    "witness_submissions": dict(
        # witness --submit: one request asking an archive to capture a URL now, and what it answered.
        columns={"id": int, "source_id": str, "archive": str, "request_url": str, "requested_at": str,
                 "outcome": str, "status": int, "memento_url": str, "detail": str, "hops": str,
                 "warc_file": str, "warc_offset": int},
        pk="id",
        foreign_keys=[("source_id", "sources", "id")],
    ),
}
