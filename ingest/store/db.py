"""The SQLite database: schema, and applying logged rows to tables (sqlite-utils)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import sqlite_utils

from ingest.store.derived import CHECK_INDEXES, CHECK_TABLES, CLAIM_PERSONS_VIEW
from ingest.store.triggers import (CLAIM_PEOPLE_TRIGGERS, CLAIMS_FTS_TRIGGERS, DRIFT_TRIGGERS, FOLD_SQL,
                                   REPLACED_TRIGGERS)
from ingest.store.fts import index_text, reindex_texts  # noqa: F401  (callers use dbm.index_text)
from ingest.store.browsertables import BROWSER_SCHEMA
from ingest.store.log import canonical
from ingest.store.witnesses import WITNESS_SCHEMA

# Columns computed from other rows or files: stored for reading, never logged, always recomputable.
DERIVED = {
    "extractions": ("text",),
    "claims": ("status", "status_reason", "supporting_outlets", "origins", "drift", "drift_since", "drift_reason"),
}

# Tables whose rows are written only through the log (and checked against it by verify).
LOGGED_TABLES = ("cases", "sources", "files", "captures", "attempts", "extractions", "warcs", "claims", "citations",
                 "drift_checks", "timestamps", "ots_proofs", "people", "telegram_posts", "post_files",
                 "witness_lookups", "witness_captures", "witness_checks", "witness_submissions",
                 "browser_captures", "marked_screenshots", "visibility")

SCHEMA: dict[str, dict[str, Any]] = {
    "files": dict(
        columns={"blake3": str, "sha256": str, "size": int, "media_type": str, "path": str, "stored_at": str},
        pk="blake3",
    ),
    "cases": dict(
        columns={"id": str, "title": str, "description": str, "case_file": str, "case_file_blake3": str, "recorded_at": str},
        pk="id",
        foreign_keys=[("case_file_blake3", "files", "blake3")],
    ),
    "sources": dict(
        columns={
            "id": str, "case_id": str, "slug": str, "title": str, "kind": str, "outlet": str, "language": str,
            "published": str, "published_after": str, "method": str, "url": str, "path": str, "wanted": int,
            "recorded_at": str, "family": str,  # family: the `telegram:` channel range it is one post of
        },
        pk="id",
        foreign_keys=[("case_id", "cases", "id")],
    ),
    "warcs": dict(
        columns={"name": str, "blake3": str, "sha256": str, "size": int, "records": int, "warc_version": str, "completed_at": str},
        pk="name",
    ),
    "captures": dict(
        columns={
            "id": int, "source_id": str, "version": int, "blake3": str, "captured_at": str, "method": str,
            "url": str, "final_url": str, "status": int, "media_type": str, "declared_type": str, "charset": str,
            "ip": str, "tls": str, "hops": str, "proxy_used": int, "tool": str, "local_path": str,
            "local_mtime": str, "previous_capture_id": int, "warc_file": str, "warc_offset": int, "warc_length": int,
            # "checked" when the framing (Content-Length, chunked, a regular file's size) shows the
            # body ended where it was meant to; "unchecked" for a close-delimited body.
            "completeness": str, "completeness_note": str,
            "incomplete": str,  # the page's text is not in the capture (text/completeness): why
        },
        pk="id",
        foreign_keys=[("source_id", "sources", "id"), ("blake3", "files", "blake3"), ("previous_capture_id", "captures", "id")],
    ),
    "attempts": dict(
        columns={
            "id": int, "source_id": str, "started_at": str, "method": str, "url": str, "outcome": str,
            "error": str, "status": int, "capture_id": int, "blake3": str, "hops": str, "warc_file": str, "warc_offset": int,
        },
        pk="id",
        foreign_keys=[("source_id", "sources", "id"), ("capture_id", "captures", "id")],
    ),
    "extractions": dict(
        columns={
            "id": int, "blake3": str, "extractor": str, "extractor_version": str, "options": str, "text": str,
            "text_blake3": str, "text_length": int, "title": str, "author": str, "date": str, "sitename": str,
            "language": str, "charset": str, "charset_source": str, "page_count": int, "pages": str,
            "has_text_layer": int, "metadata": str, "error": str, "extracted_at": str, "blocks": str,
        },
        pk="id",
        foreign_keys=[("blake3", "files", "blake3")],
    ),
    "claims": dict(
        columns={
            "id": str, "case_id": str, "slug": str, "text": str, "date": str, "date_note": str, "type": str,
            "people": str, "withdrawn": int, "recorded_at": str, "status": str, "status_reason": str,
            "supporting_outlets": int, "drift": str, "drift_since": str, "drift_reason": str, "origins": str,
        },
        pk="id",
        foreign_keys=[("case_id", "cases", "id")],
    ),
    "citations": dict(
        columns={
            "id": str, "claim_id": str, "n": int, "source_id": str, "quote": str, "stance": str, "prefix": str,
            "suffix": str, "page": int, "capture_requested": str, "capture_id": int, "blake3": str,
            "extraction_id": int, "text_blake3": str, "match": str, "start": int, "end": int, "exact": str,
            "selector_prefix": str, "selector_suffix": str, "rules": str, "score": float, "candidates": str,
            "found_page": int, "reason": str, "anchored_at": str, "spans": int, "crossed": str,
            "found_in_metadata": str, "ocr": int,
        },
        pk="id",
        foreign_keys=[
            ("claim_id", "claims", "id"), ("source_id", "sources", "id"), ("capture_id", "captures", "id"),
            ("blake3", "files", "blake3"), ("extraction_id", "extractions", "id"),
        ],
    ),
    "drift_checks": dict(
        # Logged: what a later capture or attempt of a source showed of a citation's quote.
        columns={
            "id": int, "citation_id": str, "source_id": str, "anchored_capture_id": int, "finding": str,
            "attempt_id": int, "capture_id": int, "blake3": str, "extraction_id": int, "observed_at": str,
            "detail": str, "diff": str, "checked_at": str,
        },
        pk="id",
        foreign_keys=[("source_id", "sources", "id"), ("attempt_id", "attempts", "id"), ("capture_id", "captures", "id")],
    ),
    "citation_drift": dict(
        # Derived from drift_checks by triggers: each citation's latest finding and since when it holds.
        columns={
            "citation_id": str, "source_id": str, "finding": str, "since": str, "observed_at": str,
            "check_id": int, "attempt_id": int, "capture_id": int, "detail": str, "diff": str,
        },
        pk="citation_id",
    ),
    "timestamps": dict(
        # RFC 3161 tokens over a log head: entries 1..head_seq existed no later than gen_time.
        columns={
            "id": int, "head_seq": int, "head_hash": str, "tsa_url": str, "signer": str, "gen_time": str,
            "serial": str, "policy": str, "nonce": str, "token_blake3": str, "chain_blake3": str,
            "pin_blake3": str, "client": str, "requested_at": str,
        },
        pk="id",
        foreign_keys=[("token_blake3", "files", "blake3"), ("chain_blake3", "files", "blake3"),
                      ("pin_blake3", "files", "blake3")],
    ),
    "ots_proofs": dict(
        # OpenTimestamps proofs over a log head, pending at a calendar until upgraded.
        columns={"id": int, "head_seq": int, "head_hash": str, "calendar": str, "proof_blake3": str,
                 "state": str, "submitted_at": str, "upgraded_at": str},
        pk="id",
        foreign_keys=[("proof_blake3", "files", "blake3")],
    ),
    "telegram_posts": dict(
        # Logged: a Telegram post as one capture of its preview showed it (capture/posts, from the
        # telegram or telegram_api extraction); one row per capture, so views and edits are kept over time.
        columns={
            "capture_id": int, "source_id": str, "extraction_id": int, "captured_at": str, "url": str,
            "channel": str, "channel_title": str, "post_id": int, "posted_at": str, "author": str, "edited": int,
            "views": str, "views_count": int, "views_exact": int, "forwarded_from": str, "forwarded_url": str,
            "reply_to_url": str, "reply_to_author": str, "reply_to_text": str, "link_preview": str, "links": str,
            "media": str, "text_blake3": str, "previous_capture_id": int, "text_changed": int, "text_diff": str,
            # edit_date: only the API gives it; method: http (the web preview) or telegram_api.
            "recorded_at": str, "edit_date": str, "method": str,
        },
        pk="capture_id",
        foreign_keys=[("capture_id", "captures", "id"), ("source_id", "sources", "id"),
                      ("extraction_id", "extractions", "id")],
    ),
    "post_files": dict(
        # Logged: what was fetched beside a post's capture: the channel page at the post and each
        # photo, video poster and link-preview image, archived as files of their own (or why not).
        columns={
            "id": int, "capture_id": int, "source_id": str, "n": int, "role": str, "url": str, "outcome": str,
            "error": str, "blake3": str, "media_type": str, "size": int, "fetched_at": str, "hops": str,
            "warc_file": str, "warc_offset": int,
        },
        pk="id",
        foreign_keys=[("capture_id", "captures", "id"), ("source_id", "sources", "id"), ("blake3", "files", "blake3")],
    ),
    "visibility": dict(  # can a reader see the citation's passage in its HTML capture; no FK: it outlives a withdrawn citation
        columns={"citation_id": str, "blake3": str, "exact": str, "state": str, "reason": str, "method": str,
                 "detail": str, "checked_at": str}, pk="citation_id"),
    "claims_state": dict(
        # Derived: the log head after a case's claims were last brought up to date, so a run
        # in which nothing was recorded can skip re-checking them.
        columns={"case_id": str, "case_file_blake3": str, "log_seq": int},
        pk="case_id",
    ),
    "people": dict(
        # Logged: a person a case names, as the case file gives them.
        columns={"id": str, "case_id": str, "slug": str, "name": str, "aliases": str, "role": str, "declared": int,
                 "names": str, "recorded_at": str},
        pk="id",
        foreign_keys=[("case_id", "cases", "id")],
    ),
    "person_variants": dict(
        # Derived, made in the published copy (site/publish) by claims/people from the people rows:
        # one row per way of writing a person's name, with the libraries that made it.
        columns={"person_id": str, "key": str, "slug": str, "case_id": str, "text": str, "how": str, "whole": int,
                 "tool": str},
        pk=("person_id", "key"),
    ),
    "local_files": dict(
        # Not evidence, never published: fstat of a local document when last read as its latest capture (lost: re-read).
        columns={"source_id": str, "path": str, "dev": int, "ino": int, "size": int, "mtime_ns": int,
                 "ctime_ns": int, "taken_ns": int, "blake3": str},
        pk="source_id",
    ),
    "claim_people": dict(
        columns={"claim_id": str, "person": str},
        pk=("claim_id", "person"),
        foreign_keys=[("claim_id", "claims", "id")],
    ),
    "search_index": dict(
        # Derived: the form each full-text index was made in (text/stems.version()); another form is rebuilt.
        columns={"name": str, "form": str},
        pk="name",
    ),
    "verify_runs": dict(
        columns={"id": int, "checked_at": str, "counts": str, "exit_code": int, "gaps": str},
        pk="id",
    ),
    "verify_results": dict(
        columns={"id": int, "run_id": int, "check": str, "subject": str, "state": str, "finding": str, "detail": str, "checked_at": str},
        pk="id",
        foreign_keys=[("run_id", "verify_runs", "id")],
    ),
    "log": dict(
        columns={"seq": int, "time": str, "event": str, "table_name": str, "key": str, "row_hash": str, "prev": str, "hash": str, "entry": str},
        pk="seq",
    ),
} | CHECK_TABLES

SCHEMA.update(WITNESS_SCHEMA)

SCHEMA.update(BROWSER_SCHEMA)

INDEXES = [
    ("captures", ["source_id", "version"]),
    ("captures", ["blake3"]),
    ("attempts", ["source_id"]),
    ("browser_captures", ["source_id"]),
    ("browser_captures", ["capture_id"]),
    ("marked_screenshots", ["citation_id"]),
    ("extractions", ["blake3"]),
    ("sources", ["case_id"]),
    ("claims", ["case_id"]),
    ("claims", ["date"]),
    ("citations", ["claim_id"]),
    ("citations", ["source_id"]),
    ("verify_results", ["run_id", "state"]),
    ("captures", ["version"]),
    ("attempts", ["outcome"]),
    ("claim_people", ["person", "claim_id"]),
    ("people", ["case_id"]),
    ("people", ["slug"]),
    ("person_variants", ["key"]),
    ("drift_checks", ["citation_id", "attempt_id"]),
    ("citation_drift", ["source_id"]),
    ("timestamps", ["head_seq"]),
    ("telegram_posts", ["source_id", "capture_id"]),
    ("post_files", ["capture_id", "n"]),
    ("log", ["table_name", "key"]),
    ("witness_lookups", ["source_id", "archive"]),
    ("witness_captures", ["memento_url"]),
    ("witness_checks", ["citation_id"]),
] + CHECK_INDEXES

def open_db(path: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    # The log is fsynced before its rows are committed and rebuilds the database: no sync per commit.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.conn.create_function("fold", 1, fold, deterministic=True)
    ensure_schema(db)
    return db


def fold(text: str | None) -> str | None:
    """Fold what FTS5's unicode61 tokenizer does not: ё and е are one letter in search."""
    if text is None:
        return None
    return text.replace("ё", "е").replace("Ё", "Е")


def ensure_schema(db: sqlite_utils.Database) -> None:
    for name, spec in SCHEMA.items():
        if not db[name].exists():
            db[name].create(spec["columns"], pk=spec["pk"], foreign_keys=spec.get("foreign_keys"), if_not_exists=True)
        else:  # an archive made before a column existed: add it (NULL in the rows logged before)
            have = set(db[name].columns_dict)
            for column, kind in spec["columns"].items():
                if column not in have:
                    db[name].add_column(column, kind)
    for table, columns in INDEXES:
        db[table].create_index(columns, if_not_exists=True)
    db.execute("CREATE INDEX IF NOT EXISTS idx_claims_open ON claims (id) WHERE withdrawn = 0 AND status != 'sourced'")
    # The case timeline's order (undated last): read in index order, a page of it stops early
    # instead of sorting all of a case's claims for every request.
    db.execute("CREATE INDEX IF NOT EXISTS idx_claims_timeline ON claims (case_id, withdrawn, date IS NULL, date, id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_claims_drifted ON claims (id) WHERE withdrawn = 0 AND drift != 'none'")
    db.execute("CREATE INDEX IF NOT EXISTS idx_citation_drift_open ON citation_drift (citation_id) "
               "WHERE finding != 'quote_present'")
    for sql in DRIFT_TRIGGERS:
        db.execute(sql)
    if "claims_fts" not in db.table_names():
        # Claims are short: this index keeps its own (folded) copy, so plain SQL triggers keep it current.
        db.execute("CREATE VIRTUAL TABLE claims_fts USING fts5(text, people, tokenize=\"unicode61 remove_diacritics 2\")")
    missing_triggers = not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'claim_people_insert'").fetchone()
    for name in REPLACED_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    for sql in CLAIM_PEOPLE_TRIGGERS + CLAIMS_FTS_TRIGGERS:
        db.execute(sql)
    db.execute(CLAIM_PERSONS_VIEW)
    if missing_triggers:  # an archive made before these existed: fill them once
        with db.conn:
            db.execute("INSERT OR IGNORE INTO claim_people (claim_id, person) SELECT claims.id, value "
                       "FROM claims, json_each(claims.people) WHERE json_valid(claims.people)")
            db.execute("DELETE FROM claims_fts")
            db.execute(f"INSERT INTO claims_fts (rowid, text, people) SELECT rowid, {FOLD_SQL.format('text')}, "
                       f"{FOLD_SQL.format('people')} FROM claims")
    if "extractions_fts" not in db.table_names():
        # Contentless: the text lives once, in extractions; the index holds folded tokens only.
        db.execute("CREATE VIRTUAL TABLE extractions_fts USING fts5(title, text, content='', "
                   "tokenize=\"unicode61 remove_diacritics 2\")")


def get_row(db: sqlite_utils.Database, table: str, key: Any) -> dict[str, Any] | None:
    """One row by primary key, as a dict."""
    return first_row(db, f"SELECT * FROM [{table}] WHERE [{SCHEMA[table]['pk']}] = ?", [key])


def first_row(db: Any, sql: str, params: list[Any]) -> dict[str, Any] | None:
    """The query's first row as a dict, on the connection's own cursor (sqlite-utils' query()
    wraps each read in a savepoint)."""
    cursor = db.execute(sql, params)
    found = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], found)) if found else None


def file_known(db: Any, blake3: str) -> bool:
    """Whether the files table names this BLAKE3 (one indexed lookup; sqlite-utils' count_where
    looks the table up in sqlite_master first, twice per stored file of a run)."""
    return db.execute("SELECT 1 FROM files WHERE blake3 = ?", [blake3]).fetchone() is not None


def all_rows(db: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Every row of the query as a dict, on the connection's own cursor (as first_row)."""
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def differs(old: dict[str, Any] | None, new: dict[str, Any], ignore: tuple[str, ...] = ()) -> bool:
    """Whether `new` would change the stored row `old` (None: there is no row yet)."""
    return old is None or any(old.get(k) != v for k, v in new.items() if k not in ignore)


def logged_row(table: str, row: dict[str, Any], logged: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of a row that the log records (derived columns removed).

    With `logged` (the row as a log entry recorded it), columns added to the schema after that
    entry was written are left out while they are NULL, as the entry left them."""
    derived = DERIVED.get(table, ())
    out = {k: v for k, v in row.items() if k not in derived}
    if logged is not None:
        for k in [k for k in out if k not in logged and out[k] is None]:
            del out[k]
    return out


def apply_entry(db: sqlite_utils.Database, entry: dict[str, Any], extra: dict[str, Any] | None = None,
                line: bytes | None = None) -> None:
    """Write a log entry's row to its table and the entry to the log table (caller holds the transaction).

    `line` is the entry's canonical JSON when the caller has it already."""
    table = entry.get("table")
    if table and entry.get("row") is None:
        pk = SCHEMA[table]["pk"]
        db.execute(f"DELETE FROM [{table}] WHERE [{pk}] = ?", [entry["key"]])
    elif table:
        row = dict(entry["row"])
        if extra:
            row.update(extra)
        upsert(db, table, row)
        if table == "extractions" and row.get("text") is not None:
            index_text(db, row["id"], row.get("title"), row["text"])
    upsert(db, "log", {
        "seq": entry["seq"], "time": entry["time"], "event": entry["event"], "table_name": table,
        "key": entry.get("key"), "row_hash": entry.get("row_hash"), "prev": entry["prev"],
        "hash": entry["hash"], "entry": (line or canonical(entry)).decode("utf-8"),
    })


def upsert(db: sqlite_utils.Database, table: str, row: dict[str, Any]) -> None:
    """Insert or update one row by primary key, inside the caller's transaction (plain SQL: sqlite-utils'
    upsert commits on its own, which would break batches whose log entries must be durable first)."""
    cols = tuple(row)
    db.conn.execute(_upsert_sql(table, cols), [row[c] for c in cols])


@functools.lru_cache(maxsize=512)  # a run writes a few shapes of row thousands of times
def _upsert_sql(table: str, cols: tuple[str, ...]) -> str:
    pk = SCHEMA[table]["pk"]
    names = ", ".join(f"[{c}]" for c in cols)
    marks = ", ".join("?" for _ in cols)
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in cols if c != pk)
    sql = f"INSERT INTO [{table}] ({names}) VALUES ({marks}) ON CONFLICT([{pk}]) DO "
    return sql + (f"UPDATE SET {updates}" if updates else "NOTHING")


def max_seq(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT coalesce(max(seq), 0) FROM log").fetchone()[0]


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
