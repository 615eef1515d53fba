"""The claims' full-text index and people table follow a claim's words, and only its words.

A claim row is written by upsert, which names every column: a status change alone must not
rewrite the claim's index entry or its people rows (it did, five times per claim in a run)."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.store import db as dbm
from ingest.store.triggers import REPLACED_TRIGGERS


def _claim(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "wp/azaryan-detained", "case_id": "wp", "slug": "azaryan-detained", "withdrawn": 0,
        "text": "Суд заключил Гарри Азаряна под стражу.", "people": json.dumps(["Harry Azaryan"]),
        "recorded_at": "2026-12-02T08:00:00.000000Z", "status": "unsourced",
    }
    row.update(changes)
    return row


def _state(db) -> tuple[list[tuple], list[tuple], list[str]]:  # noqa: ANN001
    """(the index's stored pages, the people rows with their rowids, the claims a search finds)."""
    pages = db.execute("SELECT id, block FROM claims_fts_data ORDER BY id").fetchall()
    people = db.execute("SELECT rowid, claim_id, person FROM claim_people ORDER BY rowid").fetchall()
    found = [r[0] for r in db.execute(
        "SELECT claims.id FROM claims_fts JOIN claims ON claims.rowid = claims_fts.rowid WHERE claims_fts MATCH ?",
        ["азаряна"])]
    return pages, people, found


def _write(db, row: dict[str, object]) -> None:  # noqa: ANN001
    with db.conn:
        dbm.upsert(db, "claims", row)


def test_a_status_change_leaves_the_index_and_people_alone_and_a_new_text_replaces_them(tmp_path: Path) -> None:
    db = dbm.open_db(tmp_path / "archive.db")
    with db.conn:
        dbm.upsert(db, "cases", {"id": "wp", "title": "Workers' Power"})
    _write(db, _claim())
    before = _state(db)
    assert before[1] == [(1, "wp/azaryan-detained", "Harry Azaryan")] and before[2] == ["wp/azaryan-detained"]

    _write(db, _claim(status="sourced", status_reason="one supporting quote", recorded_at="2026-12-02T09:00:00.000000Z"))
    assert _state(db) == before

    _write(db, _claim(text="Суд продлил арест.", people=json.dumps(["Harry Azaryan", "Kirill"])))
    pages, people, found = _state(db)
    assert found == [] and pages != before[0]
    assert [(claim, person) for _, claim, person in people] == [
        ("wp/azaryan-detained", "Harry Azaryan"), ("wp/azaryan-detained", "Kirill")]
    assert [r[0] for r in db.execute("SELECT rowid FROM claims_fts WHERE claims_fts MATCH 'продлил'")] == [1]


def test_an_archive_with_the_older_triggers_gets_the_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    db = dbm.open_db(path)
    for new, old in (("claims_fts_changed", "claims_fts_update"), ("claim_people_changed", "claim_people_update")):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [new]).fetchone()[0]
        db.execute(f"DROP TRIGGER {new}")
        head, _, body = sql.partition(" BEGIN")
        db.execute(head.split("\n")[0].replace(new, old) + " BEGIN" + body)  # as it was: no WHEN clause
    db.conn.close()

    db = dbm.open_db(path)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert not names & set(REPLACED_TRIGGERS)
    assert {"claims_fts_changed", "claim_people_changed"} <= names
