"""The published copy: a read-only snapshot of the archive database that the web site serves.

The live ARCHIVE/archive.db is never served. `snapshot()` copies it with SQLite's backup API
into ARCHIVE/published/archive.db (journal_mode=DELETE, so it is one self-contained file),
removes anything that would identify the operator's machine, adds a search index over
claims, and writes Datasette's inspect data and a stamp recording what it was made from.
`ensure_snapshot()` rebuilds it only when the archive changed since the stamp was written.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ingest.text.stems import index_form
from ingest.claims import people
from ingest.errors import ArchiveError

PUBLISHED = "published"
DB_NAME = "archive.db"
INSPECT_NAME = "inspect.json"
STAMP_NAME = "stamp.json"
LOCAL = "<local>"


@dataclass(frozen=True)
class Snapshot:
    db: Path
    inspect: Path
    rebuilt: bool
    reason: str
    scrubbed: int = 0


def published_dir(archive: Path) -> Path:
    return Path(archive) / PUBLISHED


def archive_state(archive: Path) -> dict[str, object]:
    """What the snapshot is compared against: the log's last entry and the last verify run.

    Every row of the logged tables is written through the log (and derived columns change only
    with a log entry or a verify run), so these two change whenever anything served changes.
    """
    conn = sqlite3.connect(f"file:{Path(archive) / DB_NAME}?mode=ro", uri=True)
    try:
        seq, head = conn.execute("SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1").fetchone() or (0, None)
        runs = conn.execute("SELECT coalesce(max(id), 0) FROM verify_runs").fetchone()[0]
    finally:
        conn.close()
    return {"max_seq": seq, "head": head, "verify_runs": runs}


def staleness(archive: Path) -> str | None:
    """How the archive moved on since the published copy was made, or None if it did not."""
    stamp_path = published_dir(archive) / STAMP_NAME
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    now = archive_state(archive)
    if stamp.get("state") == now:
        return None
    was = stamp.get("state") or {}
    return (f"the archive changed since the published copy was made (log seq {was.get('max_seq')} -> {now['max_seq']}, "
            f"verify runs {was.get('verify_runs')} -> {now['verify_runs']})")


def _stale(archive: Path) -> str | None:
    """Why the snapshot must be rebuilt, or None if it is current."""
    out = published_dir(archive)
    stamp_path = out / STAMP_NAME
    if not (out / DB_NAME).exists() or not (out / INSPECT_NAME).exists() or not stamp_path.exists():
        return "no published copy yet"
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "the stamp file is unreadable"
    return staleness(archive) if isinstance(stamp, dict) else "the stamp file is unreadable"


def ensure_snapshot(archive: Path) -> Snapshot:
    archive = Path(archive)
    if not (archive / DB_NAME).is_file():
        raise ArchiveError(f"{archive} is not a Khronika archive (no {DB_NAME}); run `python -m ingest run --archive {archive}` first")
    why = _stale(archive)
    out = published_dir(archive)
    if why is None:
        return Snapshot(out / DB_NAME, out / INSPECT_NAME, False, "the published copy is current")
    snap = snapshot(archive)
    return Snapshot(snap.db, snap.inspect, True, why, snap.scrubbed)


def _local_strings(archive: Path) -> list[str]:
    """Strings that would identify this machine if they appeared in the published copy."""
    found = {str(Path(archive).resolve()), str(Path.cwd().resolve()), str(Path.home())}
    for env in ("HOME", "TMPDIR"):
        if os.environ.get(env):
            found.add(os.environ[env])
    # Longest first, so a path is replaced whole before any prefix of it is.
    return sorted((s.rstrip("/") for s in found if s not in ("", "/") and len(s) > 1), key=len, reverse=True)


def _user_names() -> list[str]:
    names = set()
    try:
        names.add(getpass.getuser())
    except Exception:  # noqa: BLE001 - no user name available is fine
        pass
    names.add(Path.home().name)
    return [n for n in names if len(n) >= 3 and n not in ("root", "nobody")]


# Absolute paths under the usual places for home and temporary folders.
_ABS_PATH = re.compile(r"(?<![\w:/.])/(?:home|Users|root|tmp|var/folders|private|mnt|media|srv|opt)/[^\s\"'<>]*")
_PROXY = re.compile(r"\b(?:socks[45]h?|https?)://[^\s\"'@/]+:[^\s\"'@/]+@[^\s\"'/]+")


def scrub_text(value: str, local: list[str], users: list[str]) -> str:
    for s in local:
        value = value.replace(s, LOCAL)
    value = _ABS_PATH.sub(lambda m: LOCAL + "/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], value)
    value = _PROXY.sub("<proxy>", value)
    for name in users:
        value = re.sub(rf"(?<![\w]){re.escape(name)}(?![\w])", "<user>", value) if f"/{name}" in value else value
    return value


def _scrub(conn: sqlite3.Connection, archive: Path) -> int:
    local, users = _local_strings(archive), _user_names()
    changed = 0
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'").fetchall():
        if table.startswith(("sqlite_", "extractions_fts", "claims_fts")):
            continue
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        if not cols:
            continue
        # One pass over the table for all its columns (a pass per column read a 10-million-claim
        # archive dozens of times over).
        suspect = " OR ".join(f"(typeof([{c}]) = 'text' AND ([{c}] LIKE '%/%' OR [{c}] LIKE '%@%'))" for c in cols)
        picked = ", ".join(f"[{c}]" for c in cols)
        last = -(2**63)  # in rowid order, a bounded slice at a time (a rowid range, not a rescan): rows change between slices
        while True:
            rows = conn.execute(f"SELECT rowid, {picked} FROM [{table}] WHERE rowid > ? AND ({suspect}) "
                                "ORDER BY rowid LIMIT 10000", [last]).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            for rowid, *values in rows:
                for col, value in zip(cols, values):
                    if not isinstance(value, str) or ("/" not in value and "@" not in value):
                        continue
                    new = scrub_text(value, local, users)
                    if new != value:
                        conn.execute(f"UPDATE [{table}] SET [{col}] = ? WHERE rowid = ?", [new, rowid])
                        changed += 1
    # The recorded proxy settings are the operator's, not the source's.
    conn.execute("UPDATE captures SET proxy_used = NULL")
    return changed


def _person_variants(conn: sqlite3.Connection) -> None:
    """Every way of writing each person's name (claims/people.variants), with the libraries that
    made them: what /-/people, the person pages and claims_about_person look names up in."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'person_variants'").fetchone():
        return  # an archive no run of this version has opened yet: it has no people
    conn.execute("DELETE FROM person_variants")
    rows = conn.execute("SELECT id, slug, case_id, name, aliases, declared FROM people").fetchall()
    if not rows:
        return
    made_by = people.tools()
    for pid, slug, case_id, name, aliases, declared in rows:
        person = people.Person(slug, name, 0, tuple(json.loads(aliases or "[]")), None, bool(declared))
        conn.executemany(
            "INSERT OR IGNORE INTO person_variants (person_id, key, slug, case_id, text, how, whole, tool) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(pid, v.key, slug, case_id, v.text, v.how, int(v.whole), made_by) for v in people.variants(person)])


def _index_claims(conn: sqlite3.Connection) -> None:
    """The published copy's claim index in the form of the text index: words folded, each followed
    by its stem (the live archive's triggers keep it folded only, in plain SQL any connection runs)."""
    conn.execute("DELETE FROM claims_fts")
    for rowid, text, names in conn.execute("SELECT rowid, text, people FROM claims").fetchall():
        conn.execute("INSERT INTO claims_fts (rowid, text, people) VALUES (?, ?, ?)",
                     [rowid, index_form(text), index_form(names)])


def _inspect(db_path: Path) -> dict[str, object]:
    from datasette.cli import inspect_

    data = asyncio.run(inspect_([str(db_path)], None))
    for entry in data.values():
        entry["file"] = db_path.name  # never the absolute path
    return data


def snapshot(archive: Path) -> Snapshot:
    """Make ARCHIVE/published/archive.db and its inspect data; replace an older copy atomically."""
    archive = Path(archive)
    out = published_dir(archive)
    out.mkdir(exist_ok=True)
    state = archive_state(archive)
    tmp = out / f".tmp-{os.getpid()}-{DB_NAME}"
    packed = out / f".tmp-{os.getpid()}-packed-{DB_NAME}"
    for path in (tmp, packed):
        path.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{archive / DB_NAME}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        with dst:
            # A cache of this machine's file system (inodes, devices), not part of the archive's record.
            dst.execute("DROP TABLE IF EXISTS local_files")
            scrubbed = _scrub(dst, archive)
            _index_claims(dst)
            _person_variants(dst)
        # A fresh, packed copy: no free page keeps what the scrub removed. VACUUM INTO writes it once;
        # VACUUM would write it to a temporary file and then again over the copy, through a journal.
        dst.execute("VACUUM INTO ?", [str(packed)])
    finally:
        src.close()
        dst.close()
    tmp.unlink()
    os.replace(packed, out / DB_NAME)
    inspect = out / INSPECT_NAME
    inspect.write_text(json.dumps(_inspect(out / DB_NAME), indent=1), encoding="utf-8")
    (out / STAMP_NAME).write_text(json.dumps({"state": state, "scrubbed": scrubbed}, indent=1), encoding="utf-8")
    return Snapshot(out / DB_NAME, inspect, True, "snapshot made", scrubbed)
