"""The full-text index of extracted texts: each word folded and followed by its stem (text/stems),
made again when it was made in another form."""

from __future__ import annotations

import sqlite_utils

from ingest.text.stems import index_form
from ingest.text.stems import version as stems_version


def index_text(db: sqlite_utils.Database, extraction_id: int, title: str | None, text: str) -> None:
    """Index an extraction: its words folded, each followed by its Snowball stem (text/stems)."""
    db.execute("INSERT INTO extractions_fts(rowid, title, text) VALUES (?, ?, ?)",
               [extraction_id, index_form(title), index_form(text)])


def reindex_texts(db: sqlite_utils.Database) -> None:
    """Index every extracted text again when the index was made in another form (before stems,
    or by another stemmer version): the index is derived, the texts are kept. Called when an
    archive is opened for writing, never by a bare open_db (a benchmark's database is left alone)."""
    form = stems_version()
    row = db.execute("SELECT form FROM search_index WHERE name = 'extractions_fts'").fetchone()
    if row is not None and row[0] == form:
        return
    with db.conn:
        db.execute("INSERT INTO extractions_fts(extractions_fts) VALUES ('delete-all')")
        for eid, title, text in db.execute("SELECT id, title, text FROM extractions WHERE text IS NOT NULL").fetchall():
            index_text(db, eid, title, text)
        db.execute("INSERT INTO search_index (name, form) VALUES ('extractions_fts', ?) "
                   "ON CONFLICT(name) DO UPDATE SET form = excluded.form", [form])
