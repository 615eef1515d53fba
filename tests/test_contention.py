"""Two runs on one archive at once, and a full disk: clear refusals, nothing archived is damaged."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Site, khronika, query


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "KHRONIKA_ALLOW_PRIVATE": "1"}


def case_file(folder: Path, name: str, sources: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(f"case:\n  id: {name}\n  title: {name}\nsources:\n{sources}", encoding="utf-8")
    return path


def verify_ok(archive: Path) -> None:
    result = khronika("verify", "--archive", str(archive))
    assert result.code == 0, result.out + result.err
    assert ", 0 mismatch, 0 missing, 0 unverifiable, 0 drift." in result.out


def test_second_run_refuses_or_waits_while_the_first_holds_the_archive(tmp_path: Path, site: Site) -> None:
    site.set("/slow", b"slow page, worth the wait\n", delay=2.5, Content_Type="text/plain")
    case = case_file(tmp_path, "slow", f"  - id: slow\n    url: {site.url('/slow')}\n")
    archive = tmp_path / "archive"
    first = subprocess.Popen([sys.executable, "-m", "ingest", "run", str(case), "--archive", str(archive)],
                             cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while site.hits.get("/slow", 0) == 0:  # the first run holds the lock while it fetches
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    log_before = sorted(p.read_bytes() for p in (archive / "log").glob("*.jsonl"))

    second = khronika("run", str(case), "--archive", str(archive))
    assert second.code == 1
    assert second.err == (f"error: {archive} is in use by another Khronika process (lock {archive / '.lock'}); "
                          "wait for it to finish, or pass --wait SECONDS\n")
    assert sorted(p.read_bytes() for p in (archive / "log").glob("*.jsonl")) == log_before
    assert first.poll() is None  # the refusal came while the first run was still working

    waited = khronika("run", str(case), "--archive", str(archive), "--wait", "30")
    assert first.wait(30) == 0, first.communicate()[1]
    assert waited.code == 0, waited.err
    assert "0 new capture(s), 0 unchanged, 1 kept without fetching, 0 failed, 0 wanted." in waited.err
    assert site.hits["/slow"] == 1
    assert query(archive / "archive.db", "SELECT count(*) FROM captures") == [(1,)]
    verify_ok(archive)


def _mount_small_disk(where: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` at `where`; the reason it cannot be done, or None."""
    if os.geteuid() != 0:
        return "needs root to mount a small filesystem"
    if shutil.which("mount") is None:
        return "no mount command"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"mount -t tmpfs failed here: {done.stderr.strip() or done.returncode}"
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    why = _mount_small_disk(where, "16m")
    if why:
        print(f"SKIPPED full-disk test: {why}")
        pytest.skip(why)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_disk_is_a_clear_error_and_leaves_the_archive_intact(small_disk: Path, tmp_path: Path, site: Site) -> None:
    archive = small_disk / "archive"
    folder = tmp_path / "case"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "note.txt").write_text("A small note that fits.\n", encoding="utf-8")
    first = case_file(folder, "first", "  - id: note\n    path: docs/note.txt\n")
    result = khronika("run", str(first), "--archive", str(archive))
    assert result.code == 0, result.err
    verify_ok(archive)

    big = base64.b64encode(os.urandom(900 * 1024))  # 1.2 MB of text that gzip cannot shrink much
    site.set("/big", big, Content_Type="text/plain")
    second = case_file(folder, "second", f"  - id: big\n    url: {site.url('/big')}\n")
    filler = small_disk / "filler"
    stat = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - 1500 * 1024))
    result = khronika("run", str(second), "--archive", str(archive))
    assert result.code == 1, result.err
    assert "Traceback" not in result.err, result.err
    failed = [line for line in result.err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1, result.err
    assert re.fullmatch(rf"failed: second/big: cannot write( to WARC khronika-\S+| {re.escape(str(archive))}/files/\S+): "
                        r"disk full; nothing already archived was changed", failed[0]), result.err
    assert "0 new capture(s), 0 unchanged, 0 kept without fetching, 1 failed, 0 wanted." in result.err
    print(f"full disk: {failed[0]}")

    filler.unlink()
    verify_ok(archive)  # what was archived before the disk filled up is intact
    result = khronika("run", str(second), "--archive", str(archive))
    assert result.code == 0, result.err
    verify_ok(archive)
    assert query(archive / "archive.db", "SELECT source_id FROM captures ORDER BY id") == [("first/note",), ("second/big",)]
