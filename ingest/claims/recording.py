"""Recording a case file, its sources and stored files in the archive, each only when it changed."""

from __future__ import annotations

import functools
import os
import posixpath
from pathlib import Path
from typing import Any

from ingest import faults
from ingest.claims.cases import Case, Source
from ingest.store import db as dbm
from ingest.store.archive import Archive
from ingest.store.log import utcnow


def source_key(case_id: str, source_id: str) -> str:
    return f"{case_id}/{source_id}"


_UNREAD: Any = object()


def record_if_changed(archive: Archive, event: str, table: str, key: str, row: dict[str, Any],
                      ignore: tuple[str, ...] = ("recorded_at", "stored_at"), stored: Any = _UNREAD) -> bool:
    """Record the row unless the table holds it already; `stored`, when given, is its stored row
    as the caller read it (None: there is none)."""
    if dbm.differs(dbm.get_row(archive.db, table, key) if stored is _UNREAD else stored, row, ignore):
        archive.record(event, table, key, row)
        return True
    return False


def next_id(archive: Archive, table: str) -> int:
    return archive.db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM [{table}]").fetchone()[0]


def latest_capture(archive: Archive, sid: str) -> dict[str, Any] | None:
    """The source's latest capture (None: never captured)."""
    return dbm.first_row(archive.db, "SELECT * FROM captures WHERE source_id = ? ORDER BY version DESC LIMIT 1", [sid])


def latest_captures(archive: Archive, case_id: str) -> dict[str, dict[str, Any]]:
    """Every source of the case's latest capture, by source id: one query, not one per source
    (each source is captured once per run, after this is read)."""
    return {row["source_id"]: row for row in dbm.all_rows(archive.db, (
        "SELECT c.* FROM captures c JOIN (SELECT source_id, MAX(version) AS v FROM captures WHERE source_id IN "
        "(SELECT id FROM sources WHERE case_id = ?) GROUP BY source_id) m ON c.source_id = m.source_id AND c.version = m.v"),
        [case_id])}


def store(archive: Archive, data: bytes, media_type: str, blake3: str | None = None) -> str:
    stored = archive.store.put(data, blake3)
    faults.point("after_file_store")
    if not dbm.file_known(archive.db, stored.blake3):
        archive.record("file_stored", "files", stored.blake3, {
            "blake3": stored.blake3, "sha256": stored.sha256, "size": stored.size,
            "media_type": media_type, "path": stored.relpath, "stored_at": utcnow(),
        })
    return stored.blake3


def local_display_path(case: Case, source: Source) -> str:
    """The document's path as the user wrote it relative to where the case file was named."""
    assert source.path is not None
    return _display_path(recorded_case_path(case), source.path)


@functools.lru_cache(maxsize=4096)  # asked twice per local source in a run (the case's record, the capture)
def _display_path(case_path: str, path: str) -> str:
    # As str(Path(case_path).parent / path) says it, by string operations (a few microseconds,
    # not fifteen, for every source of every run): `path` is relative and free of "..", which
    # the case file's validation refused, so normpath only drops "." parts and doubled slashes.
    return posixpath.normpath(posixpath.join(posixpath.dirname(case_path), path))


def recorded_case_path(case: Case) -> str:
    """The case file's path as recorded: relative to the working folder when it lies inside it,
    else its name alone. Records and evidence packages must not reveal the operator's folders."""
    return _recorded_case_path(case.display_name, str(case.file), os.getcwd())


@functools.lru_cache(maxsize=64)  # asked once per source; resolving both paths each time was most of an unchanged re-run
def _recorded_case_path(display_name: str, file: str, cwd: str) -> str:
    path = Path(display_name)
    if not path.is_absolute() and ".." not in path.parts:
        return str(path)
    try:
        return str(Path(file).resolve().relative_to(Path(cwd).resolve()))
    except ValueError:
        return Path(file).name


def record_case(archive: Archive, case: Case) -> None:
    blake3 = store(archive, case.raw, "application/yaml")
    record_if_changed(archive, "case_recorded", "cases", case.id, {
        "id": case.id, "title": case.title, "description": case.description,
        "case_file": recorded_case_path(case), "case_file_blake3": blake3, "recorded_at": utcnow(),
    })
    stored = {r["id"]: r for r in dbm.all_rows(archive.db, "SELECT * FROM sources WHERE case_id = ?", [case.id])}
    for s in case.sources:
        key = source_key(case.id, s.id)
        record_if_changed(archive, "source_recorded", "sources", key, {
            "id": key, "case_id": case.id, "slug": s.id, "title": s.title,
            "kind": s.kind, "outlet": s.outlet, "language": s.language, "published": s.published,
            "published_after": s.published_after, "method": s.method, "url": s.url,
            "path": local_display_path(case, s) if s.path else None, "wanted": int(s.wanted),
            "family": s.family, "recorded_at": utcnow(),
        }, stored=stored.get(key))


def record_people(archive: Archive, case: Case) -> None:
    """Record the people the case names (declared or only written in claims), each only when it
    changed; a person no longer named is removed (the log keeps them). The ways of writing their
    names are made where they are searched (the published copy), not here: a run stays free of
    the morphology dictionary."""
    keys = set()
    for p in case.people:
        key = source_key(case.id, p.id)
        keys.add(key)
        record_if_changed(archive, "person_recorded", "people", key, {
            "id": key, "case_id": case.id, "slug": p.id, "name": p.name, "aliases": dbm.dumps(list(p.aliases)),
            "role": p.role, "declared": int(p.declared), "names": dbm.dumps(list(p.names)), "recorded_at": utcnow(),
        })
    for (key,) in archive.db.execute("SELECT id FROM people WHERE case_id = ?", [case.id]).fetchall():
        if key not in keys:
            archive.record("person_removed", "people", key, None)
