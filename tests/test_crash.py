"""Kill `python -m ingest run` with SIGKILL at fixed points and at random moments; resume; verify.

After every kill the next run must get the lock at once, finish, and leave an archive that
`verify` passes: no partial file, no row pointing to a missing file, no .open WARC, an
unbroken log chain mirrored by the database.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest
from conftest import ROOT, Site, make_pdf, query

from ingest.store.log import EventLog, check_chain

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Обыски в Петербурге</title></head>
<body><article><h1>Обыски в Петербурге</h1>
<p>Пятнадцатого мая в Санкт-Петербурге прошли обыски у шести человек по делу студенческой группы.</p>
<p>У задержанных изъяли листовки и брошюры, включая манифест организации и переписку.</p>
<p>Некоторых отпустили со статусом свидетелей после допросов в следственном комитете.</p>
</article></body></html>"""


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KHRONIKA_FAULT")}
    return {**base, "PYTHONPATH": str(ROOT), "KHRONIKA_ALLOW_PRIVATE": "1", **extra}


def start(args: list[str], folder: Path, name: str, **extra: str) -> subprocess.Popen:
    out = open(folder / f"{name}.out", "wb")
    err = open(folder / f"{name}.err", "wb")
    try:
        return subprocess.Popen([sys.executable, "-m", "ingest", *args], cwd=ROOT, stdout=out, stderr=err,
                                env=env(**extra))
    finally:
        out.close()
        err.close()


def run(args: list[str], folder: Path, name: str, timeout: float = 120, **extra: str) -> tuple[int, str, str]:
    proc = start(args, folder, name, **extra)
    code = proc.wait(timeout)
    return code, (folder / f"{name}.out").read_text(), (folder / f"{name}.err").read_text()


@pytest.fixture(scope="module")
def served() -> Site:
    site = Site()
    site.set("/page", PAGE.encode(), Content_Type="text/html; charset=utf-8")
    site.set("/plain", "Заявление: суд продлил арест на два месяца.\n".encode(), Content_Type="text/plain; charset=utf-8")
    site.set("/doc.pdf", make_pdf(["Постановление суда", "Вторая страница"]), Content_Type="application/pdf")
    site.set("/old", b"", status=301, Location="/new")
    site.set("/new", PAGE.replace("шести", "семи").encode(), Content_Type="text/html; charset=utf-8")
    yield site
    site.close()


def write_case(folder: Path, site: Site) -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "note.txt").write_text("Записка: суд продлил арест Гарри Азаряна.\n", encoding="utf-8")
    (folder / "docs" / "second.txt").write_text("Second note: the hearing was closed to the press.\n", encoding="utf-8")
    case = folder / "crash.yml"
    case.write_text(f"""case:
  id: crash
  title: Crash case
sources:
  - id: note
    path: docs/note.txt
  - id: second
    path: docs/second.txt
  - id: page
    url: {site.url('/page')}
  - id: plain
    url: {site.url('/plain')}
  - id: pdf
    url: {site.url('/doc.pdf')}
  - id: moved
    url: {site.url('/old')}
claims:
  - id: arrest
    text: The court extended the arrest.
    citations:
      - source: note
        quote: суд продлил арест
        stance: supports
  - id: searches
    text: Six people were searched.
    citations:
      - source: page
        quote: прошли обыски у шести человек
        stance: supports
""", encoding="utf-8")
    return case


def assert_sound(archive: Path, folder: Path) -> None:
    """verify passes and the archive's files, WARCs, log and rows agree."""
    code, out, err = run(["verify", "--archive", str(archive)], folder, "verify")
    assert code == 0, out + err
    assert ", 0 mismatch, 0 missing, 0 unverifiable, 0 drift." in out, out
    assert not list((archive / "warc").glob("*.open"))
    for path in (archive / "files").glob("*/*"):
        assert not path.name.startswith(".tmp-"), path
        assert blake3.blake3(path.read_bytes()).hexdigest() == path.name, f"partial or altered file {path}"
    db = archive / "archive.db"
    for (rel,) in query(db, "SELECT path FROM files"):
        assert (archive / rel).is_file(), rel
    for (b3,) in query(db, "SELECT blake3 FROM captures UNION SELECT blake3 FROM extractions"):
        assert (archive / "files" / b3[:2] / b3).is_file(), b3
    for (name,) in query(db, "SELECT name FROM warcs"):
        assert (archive / "warc" / name).is_file(), name
    assert {p.name for p in (archive / "warc").glob("*.warc.gz")} == {n for (n,) in query(db, "SELECT name FROM warcs")}
    entries = list(EventLog(archive).read())
    assert check_chain(entries) == []
    assert query(db, "SELECT count(*), max(seq) FROM log")[0] == (len(entries), len(entries))
    # Every source got its capture exactly once, whatever was interrupted.
    assert query(db, "SELECT source_id, count(*) FROM captures GROUP BY source_id ORDER BY source_id") == [
        (f"crash/{s}", 1) for s in ("moved", "note", "page", "pdf", "plain", "second")]
    assert query(db, "SELECT id, match FROM citations ORDER BY id") == [
        ("crash/arrest#1", "exact"), ("crash/searches#1", "exact")]


@pytest.fixture(scope="module")
def reference(served: Site, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run nobody interrupts: how long it takes and which events it logs, in order."""
    folder = tmp_path_factory.mktemp("reference")
    case = write_case(folder, served)
    began = time.monotonic()
    code, out, err = run(["run", str(case), "--archive", str(folder / "archive")], folder, "run")
    took = time.monotonic() - began
    assert code == 0, err
    assert_sound(folder / "archive", folder)
    events = [e["event"] for e in EventLog(folder / "archive").read()]
    return {"seconds": took, "events": events}


def kill_and_resume(folder: Path, site: Site, fault: str, after: int) -> str:
    case = write_case(folder, site)
    archive = folder / "archive"
    args = ["run", str(case), "--archive", str(archive)]
    code, _, err = run(args, folder, "killed", KHRONIKA_FAULT=fault, KHRONIKA_FAULT_AFTER=str(after))
    assert code == -signal.SIGKILL, f"{fault}#{after} did not fire (exit {code}): {err}"
    code, _, err = run(args, folder, "resumed")
    assert code == 0, err
    assert "is in use by another Khronika process" not in err
    assert_sound(archive, folder)
    return err


def nth(events: list[str], event: str, n: int = 1) -> int:
    """The 1-based position of the n-th `event` among all logged events."""
    return [i for i, e in enumerate(events, 1) if e == event][n - 1]


WARC = "recovered: closed WARC khronika-"
TORN = "recovered: discarded an incomplete last log line"
RESTORED = "recovered: restored the text of 1 extraction(s) from the archived files"
REPLAYED = "recovered: applied 1 logged event(s) that an interrupted run had not yet written to the database"

# (point, which hit of it, what the resuming run must report having recovered)
FIXED = [
    ("after_file_store", lambda ev: 1, ()),  # the case file itself, before any WARC exists
    ("after_file_store", lambda ev: 4, (WARC,)),  # a fetched page
    ("mid_warc", lambda ev: 1, (WARC,)),  # the first HTTP exchange
    ("mid_warc", lambda ev: 3, (WARC,)),  # between the two hops of the redirect
    ("mid_log", lambda ev: 1, (TORN,)),  # the very first entry
    ("mid_log", lambda ev: nth(ev, "capture", 3), (TORN, WARC)),
    ("mid_log", lambda ev: nth(ev, "warc_completed"), (TORN, "recovered: recorded WARC khronika-")),
    ("after_log_before_db", lambda ev: 1, (REPLAYED,)),
    ("after_log_before_db", lambda ev: nth(ev, "capture", 4), (REPLAYED, WARC)),
    ("after_log_before_db", lambda ev: nth(ev, "extraction", 2), (REPLAYED, WARC, RESTORED)),  # replayed row gets its text back
    ("after_log_before_db", lambda ev: nth(ev, "warc_completed"), (REPLAYED,)),
    ("mid_extraction", lambda ev: 1, (WARC,)),
    ("mid_extraction", lambda ev: 4, (WARC,)),
]


@pytest.mark.parametrize("fault,after,notes", FIXED, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(FIXED)])
def test_kill_at_fixed_point_then_resume(fault: str, after, notes: tuple[str, ...], served: Site, reference: dict,
                                         tmp_path: Path) -> None:
    err = kill_and_resume(tmp_path, served, fault, after(reference["events"]))
    recovered = [line for line in err.splitlines() if line.startswith("recovered: ")]
    assert len(recovered) == len(notes), err
    for note in notes:
        assert any(line.startswith(note) for line in recovered), err


def test_kill_at_random_moments_then_resume(served: Site, reference: dict, tmp_path: Path) -> None:
    rng = random.Random(20250516)
    span = reference["seconds"]
    for trial in range(10):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        case = write_case(folder, served)
        archive = folder / "archive"
        args = ["run", str(case), "--archive", str(archive)]
        proc = start(args, folder, "killed")
        time.sleep(rng.uniform(0, span))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(30)
        assert code in (-signal.SIGKILL, 0)
        code, _, err = run(args, folder, "resumed")
        assert code == 0, f"trial {trial}: {err}"
        assert_sound(archive, folder)


def test_lock_is_free_as_soon_as_a_run_is_killed_even_with_workers_busy(tmp_path: Path) -> None:
    """A killed run's extraction workers die with it and do not keep holding the archive's lock."""
    site = Site()
    try:
        site.set("/hog", b"sleep", Content_Type="application/x-khronika-test-hog")
        (tmp_path / "hog.yml").write_text(
            f"case:\n  id: hog\n  title: Hog\nsources:\n  - id: hog\n    url: {site.url('/hog')}\n", encoding="utf-8")
        archive = tmp_path / "archive"
        proc = start(["run", str(tmp_path / "hog.yml"), "--archive", str(archive)], tmp_path, "slow",
                     KHRONIKA_TEST_HOOKS="1")
        deadline = time.monotonic() + 30
        while not query_ok(archive, "SELECT count(*) FROM captures"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(1.0)  # the worker is sleeping now
        workers = children_of(proc.pid)
        assert workers, "no extraction worker is running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        from ingest.store.archive import Archive

        began = time.monotonic()
        with Archive.open(archive, wait=0):
            pass
        assert time.monotonic() - began < 2
        time.sleep(0.5)
        assert [pid for pid in workers if alive(pid)] == []
    finally:
        site.close()


def query_ok(archive: Path, sql: str) -> int:
    try:
        return query(archive / "archive.db", sql)[0][0]
    except Exception:
        return 0


def children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
