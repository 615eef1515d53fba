"""The content store inside a batch: files are synced with the group, and a file no log entry names is checked before it is trusted."""

from __future__ import annotations

from pathlib import Path

from conftest import query

from ingest.claims.recording import store
from ingest.store.archive import Archive
from ingest.store.files import blake3_of, relpath_for


def test_an_unnamed_file_left_by_a_killed_run_with_other_bytes_is_written_again(tmp_path: Path) -> None:
    data = b"the court ordered two months in custody\n"
    digest = blake3_of(data)
    with Archive.open(tmp_path / "a", create=True) as archive:
        target = archive.store.path(digest)
        target.parent.mkdir(parents=True)
        target.write_bytes(data[:10])  # renamed into place, never synced: what a crash can leave
        with archive.batch():
            assert store(archive, data, "text/plain") == digest
        assert target.read_bytes() == data
        assert query(archive.root / "archive.db", "SELECT blake3, size, path FROM files") == [
            (digest, len(data), relpath_for(digest))]


def test_a_named_file_is_never_rewritten_even_when_its_bytes_no_longer_match(tmp_path: Path) -> None:
    data = b"statement of the Workers' Power group\n"
    with Archive.open(tmp_path / "a", create=True) as archive:
        with archive.batch():
            digest = store(archive, data, "text/plain")
        target = archive.store.path(digest)
        target.chmod(0o644)
        target.write_bytes(b"altered")  # evidence damaged after it was logged: verify reports it, nothing repairs it
        with archive.batch():
            assert store(archive, data, "text/plain") == digest
        assert target.read_bytes() == b"altered"
        assert query(archive.root / "archive.db", "SELECT count(*) FROM files") == [(1,)]


def test_files_stored_in_a_batch_are_synced_with_the_group_before_its_log_entries(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a", create=True) as archive:
        with archive.batch():
            digests = [store(archive, f"document {n}\n".encode(), "text/plain") for n in range(5)]
            pending = sorted(p.name for p in archive.store._unsynced_files)
            assert pending == sorted(digests)
            assert archive.log.held == 5  # the entries naming them wait for the same sync
            archive.sync()
            assert (archive.store._unsynced_files, archive.log.held) == ([], 0)
        assert [p.read_bytes() for p in map(archive.store.path, digests)] == [f"document {n}\n".encode() for n in range(5)]
