"""A plain run leaves a local document unread while fstat says nothing changed; --rehash, --refresh and racy cases read it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import blake3
from conftest import khronika, query

from ingest.capture.local import SETTLE_NS

TEXT = "Заявление: суд продлил арест Гарри Азаряна на два месяца.\n"
CASE = """case:
  id: still
  title: Unchanged documents
sources:
  - id: note
    path: docs/note.txt
claims:
  - id: arrest
    text: The court extended the arrest.
    citations:
      - source: note
        quote: суд продлил арест
        stance: supports
"""


def make_case(folder: Path, text: str = TEXT, settle: bool = True) -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "note.txt").write_text(text, encoding="utf-8")
    (folder / "still.yml").write_text(CASE, encoding="utf-8")
    if settle:  # the document's last change must lie further back than the file clock's tick
        time.sleep(SETTLE_NS / 1e9 + 0.1)
    return folder / "still.yml"


def note_line(err: str) -> str:
    return next(line for line in err.splitlines() if line.split()[1:2] == ["still/note:"])


def run(case: Path, archive: Path, *extra: str) -> str:
    result = khronika("run", str(case), "--archive", str(archive), "--offline", *extra)
    assert result.code == 0, result.err
    return note_line(result.err)


def short(text: str) -> str:
    return blake3.blake3(text.encode("utf-8")).hexdigest()[:12]


NOT_READ = "not re-read: size, mtime, inode and ctime as when last read; --rehash reads it)"


def test_unchanged_document_is_not_read_again_and_rehash_reads_it(tmp_path: Path) -> None:
    case, archive = make_case(tmp_path), tmp_path / "archive"
    digest = short(TEXT)
    assert run(case, archive).startswith("new       still/note: captured ")
    assert run(case, archive) == f"unchanged still/note: unchanged ({digest}; {NOT_READ}"
    assert run(case, archive, "--rehash") == f"unchanged still/note: unchanged ({digest})"
    assert run(case, archive) == f"unchanged still/note: unchanged ({digest}; {NOT_READ}"
    db = archive / "archive.db"
    assert query(db, "SELECT source_id, version FROM captures") == [("still/note", 1)]
    # a plain run logs nothing for an unchanged document, read or not
    assert query(db, "SELECT count(*) FROM log WHERE event IN ('capture', 'attempt')") == [(2,)]


def test_same_size_and_mtime_but_new_bytes_is_a_new_capture(tmp_path: Path) -> None:
    """Rewritten in place and its mtime put back: ctime still moved, so the change is seen."""
    case, archive = make_case(tmp_path), tmp_path / "archive"
    run(case, archive)
    doc = tmp_path / "docs" / "note.txt"
    before = doc.stat()
    changed = TEXT.replace("два", "три")
    assert len(changed.encode()) == len(TEXT.encode())
    with open(doc, "r+b") as fh:  # same inode, same size
        fh.write(changed.encode("utf-8"))
    os.utime(doc, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = doc.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    line = run(case, archive)
    assert line.startswith(f"new       still/note: captured {tmp_path.name}/docs/note.txt ({short(changed)}, ") or \
        line.startswith(f"new       still/note: captured docs/note.txt ({short(changed)}, "), line
    assert query(archive / "archive.db", "SELECT version, blake3 FROM captures ORDER BY version") == [
        (1, blake3.blake3(TEXT.encode()).hexdigest()), (2, blake3.blake3(changed.encode()).hexdigest())]


def test_a_document_read_too_soon_after_its_change_is_read_again(tmp_path: Path) -> None:
    """Read within SETTLE_NS of its last change (here: its mtime an hour ahead, as after clock skew), a
    write in the same tick of the file clock could leave its times as they were: the next run reads it."""
    case, archive = make_case(tmp_path), tmp_path / "archive"
    ahead = time.time_ns() + 3600 * 10**9
    os.utime(tmp_path / "docs" / "note.txt", ns=(ahead, ahead))
    run(case, archive)
    assert run(case, archive) == f"unchanged still/note: unchanged ({short(TEXT)})"  # read and hashed
    assert run(case, archive) == f"unchanged still/note: unchanged ({short(TEXT)})"


def test_touched_document_is_read_once_then_left_alone(tmp_path: Path) -> None:
    case, archive = make_case(tmp_path), tmp_path / "archive"
    run(case, archive)
    os.utime(tmp_path / "docs" / "note.txt")  # new mtime and ctime, same bytes
    time.sleep(SETTLE_NS / 1e9 + 0.1)
    assert run(case, archive) == f"unchanged still/note: unchanged ({short(TEXT)})"
    assert run(case, archive) == f"unchanged still/note: unchanged ({short(TEXT)}; {NOT_READ}"


def test_refresh_reads_and_logs_an_unchanged_attempt(tmp_path: Path) -> None:
    case, archive = make_case(tmp_path), tmp_path / "archive"
    run(case, archive)
    result = khronika("run", str(case), "--archive", str(archive), "--refresh")
    assert result.code == 0, result.err
    assert note_line(result.err) == f"unchanged still/note: unchanged ({short(TEXT)})"
    assert query(archive / "archive.db", "SELECT source_id, outcome FROM attempts ORDER BY id") == [
        ("still/note", "captured"), ("still/note", "unchanged")]


def test_the_stat_cache_is_not_published(tmp_path: Path) -> None:
    from ingest.site.publish import snapshot

    case, archive = make_case(tmp_path, settle=False), tmp_path / "archive"
    run(case, archive)
    assert query(archive / "archive.db", "SELECT source_id, path, blake3 FROM local_files") == [
        ("still/note", query(archive / "archive.db", "SELECT path FROM sources")[0][0],
         blake3.blake3(TEXT.encode()).hexdigest())]
    snap = snapshot(archive)
    assert query(snap.db, "SELECT name FROM sqlite_master WHERE name = 'local_files'") == []


def test_a_rerun_after_a_capture_leaves_the_claims_as_they_are_unless_something_that_matters_came(
        tmp_path: Path) -> None:
    """The first run closes its WARC after its claim phase; that entry alone does not send the next
    run through every claim again, a new capture does."""
    case, archive = make_case(tmp_path), tmp_path / "archive"
    db = archive / "archive.db"
    run(case, archive)
    events = query(db, "SELECT seq, event FROM log ORDER BY seq DESC LIMIT 2")
    assert events[0][1] == "warc_completed" and events[1][1] == "citation_recorded"
    done_at = events[1][0]  # the claims were brought up to date before the WARC was closed
    assert query(db, "SELECT log_seq FROM claims_state") == [(done_at,)]
    assert run(case, archive).endswith(NOT_READ)
    assert query(db, "SELECT log_seq FROM claims_state") == [(done_at,)]  # not gone through again
    assert query(db, "SELECT max(seq) FROM log") == [(events[0][0],)]  # and nothing logged
    # A changed document is a new capture: the claims are brought up to date with it.
    (tmp_path / "docs" / "note.txt").write_text("Заявление отозвано.\n", encoding="utf-8")
    time.sleep(SETTLE_NS / 1e9 + 0.1)
    assert run(case, archive).startswith("new       still/note: captured "), "a second capture"
    assert query(db, "SELECT version FROM captures ORDER BY version") == [(1,), (2,)]
    head = query(db, "SELECT max(seq) FROM log")[0][0]
    assert query(db, "SELECT event FROM log WHERE seq = ?", [head]) == [("warc_completed",)]
    assert query(db, "SELECT log_seq FROM claims_state") == [(head - 1,)]
    # the first capture still holds the quote; the source has removed it since
    assert query(db, "SELECT status, drift FROM claims") == [("sourced", "removed")]
