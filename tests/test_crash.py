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


def kill_and_resume(folder: Path, site: Site, fault: str, after: int, *options: str) -> str:
    case = write_case(folder, site)
    archive = folder / "archive"
    args = ["run", str(case), "--archive", str(archive), *options]
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
RESTORED = "recovered: restored the text of "  # ... N extraction(s) from the archived files
REPLAYED = "recovered: applied "  # ... N logged event(s) that an interrupted run had not yet written to the database

# Each source and each extraction is its own group here (--commit-seconds 0: a sync at every step),
# as close as group commit comes to one sync per event; the group boundaries are tested below.
STEPWISE = ["--commit-seconds", "0"]

# (point, which hit of it, what the resuming run must report having recovered, what it may report
# as well). A sync writes what the step recorded: a source's file, capture and attempt, or an
# extraction; a kill in the middle of those lines replays the ones before it, a kill after them
# replays them all (and an extraction replayed gets its text back from the archived file).
FIXED = [
    ("after_file_store", lambda ev: 1, (), ()),  # the case file itself, before any WARC exists
    ("after_file_store", lambda ev: 4, (WARC,), ()),  # a fetched page
    ("mid_warc", lambda ev: 1, (WARC,), ()),  # the first HTTP exchange
    ("mid_warc", lambda ev: 3, (WARC,), ()),  # between the two hops of the redirect
    ("before_group_sync", lambda ev: 1, (WARC,), ()),  # the first source recorded, nothing of it logged
    ("before_group_sync", lambda ev: 4, (WARC,), ()),
    ("mid_log", lambda ev: 1, (TORN, WARC), ()),  # the very first entry (the case file's), torn
    ("mid_log", lambda ev: nth(ev, "capture", 3), (TORN, WARC), (REPLAYED,)),
    ("mid_log", lambda ev: nth(ev, "warc_completed"), (TORN, "recovered: recorded WARC khronika-"), ()),
    ("after_log_before_db", lambda ev: 1, (REPLAYED, WARC), ()),  # the case and the first source logged
    ("after_log_before_db", lambda ev: 4, (REPLAYED, WARC), (RESTORED,)),
    ("mid_extraction", lambda ev: 1, (WARC,), ()),
    ("mid_extraction", lambda ev: 4, (WARC,), ()),
]


@pytest.mark.parametrize("fault,after,notes,maybe", FIXED, ids=[f"{f}-{i}" for i, (f, *_) in enumerate(FIXED)])
def test_kill_at_fixed_point_then_resume(fault: str, after, notes: tuple[str, ...], maybe: tuple[str, ...],
                                         served: Site, reference: dict, tmp_path: Path) -> None:
    err = kill_and_resume(tmp_path, served, fault, after(reference["events"]), *STEPWISE)
    recovered = [line for line in err.splitlines() if line.startswith("recovered: ")]
    for note in notes:
        assert sum(line.startswith(note) for line in recovered) == 1, err
    assert [line for line in recovered if not any(line.startswith(n) for n in notes + maybe)] == [], err


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
        # the worker is forked once the extractors are warmed up, which takes a while on a busy machine
        while not children_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the worker is sleeping now
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


# -- group commit: the boundaries of a group of sources ------------------------------------------

GROUPED = ["--commit-every", "2", "--commit-seconds", "600"]  # a sync after every second source, never by time


def logged(archive: Path) -> list[dict]:
    return [e for e in EventLog(archive).read() if isinstance(e, dict)]


def named_files_exist(archive: Path) -> None:
    """The evidence rule: every file and WARC record the log names is on disk."""
    for e in logged(archive):
        if e.get("table") == "files":
            assert (archive / e["row"]["path"]).is_file(), e["row"]["path"]
        if e.get("table") == "captures" and e["row"].get("warc_file"):
            warc = archive / "warc" / e["row"]["warc_file"]
            assert warc.is_file() or warc.with_name(warc.name + ".open").is_file(), warc
            size = (warc if warc.is_file() else warc.with_name(warc.name + ".open")).stat().st_size
            assert e["row"]["warc_offset"] + e["row"]["warc_length"] <= size


def test_kill_before_a_group_is_synced_loses_that_group_only_and_the_next_run_redoes_it(
        served: Site, tmp_path: Path) -> None:
    case, archive = write_case(tmp_path, served), tmp_path / "archive"
    args = ["run", str(case), "--archive", str(archive), *GROUPED]
    code, _, err = run(args, tmp_path, "killed", KHRONIKA_FAULT="before_group_sync", KHRONIKA_FAULT_AFTER="2")
    assert code == -signal.SIGKILL, err
    db = archive / "archive.db"
    # The first group (note, second) is logged and committed; of the second (page, plain) nothing is.
    assert query(db, "SELECT source_id FROM captures ORDER BY id") == [("crash/note",), ("crash/second",)]
    assert [e["row"]["source_id"] for e in logged(archive) if e["event"] == "capture"] == ["crash/note", "crash/second"]
    assert query(db, "SELECT count(*), max(seq) FROM log")[0] == (len(logged(archive)),) * 2
    named_files_exist(archive)
    code, _, err = run(args, tmp_path, "resumed")
    assert code == 0, err
    assert [line.split(" khronika-")[0] for line in err.splitlines() if line.startswith("recovered: ")] == [
        "recovered: closed WARC"]  # nothing to replay: the lost group was never logged
    assert "new       crash/page: captured" in err and "new       crash/plain: captured" in err
    assert "unchanged crash/note:" in err
    assert_sound(archive, tmp_path)
    named_files_exist(archive)


def test_kill_between_a_group_logged_and_committed_replays_the_whole_group(served: Site, tmp_path: Path) -> None:
    case, archive = write_case(tmp_path, served), tmp_path / "archive"
    args = ["run", str(case), "--archive", str(archive), *GROUPED]
    code, _, err = run(args, tmp_path, "killed", KHRONIKA_FAULT="after_log_before_db", KHRONIKA_FAULT_AFTER="2")
    assert code == -signal.SIGKILL, err
    db = archive / "archive.db"
    # The first group (note, second) is committed; the second is logged, not committed (it ends at
    # plain, or earlier, at the sync made before fetching page, if extractions had come in by then).
    assert query(db, "SELECT source_id FROM captures ORDER BY id") == [("crash/note",), ("crash/second",)]
    missing = len(logged(archive)) - query(db, "SELECT count(*) FROM log")[0][0]
    assert missing >= 1
    named_files_exist(archive)
    # Where the second group ended depends on when extractions came in: page's capture is either in
    # the logged group (replayed, then unchanged or kept) or after it (lost whole, captured anew).
    page_logged = any(e.get("table") == "captures" and e["row"]["source_id"] == "crash/page" for e in logged(archive))
    code, _, err = run(args, tmp_path, "resumed")
    assert code == 0, err
    recovered = [line.split(" khronika-")[0] for line in err.splitlines() if line.startswith("recovered: ")]
    replayed = f"recovered: applied {missing} logged event(s) that an interrupted run had not yet written to the database"
    # extractions replayed from the log get their texts back from the archived files
    assert recovered[:2] == ["recovered: closed WARC", replayed], err
    assert [line for line in recovered[2:] if not line.startswith("recovered: restored the text of ")] == [], err
    if page_logged:
        assert "unchanged crash/page:" in err or "kept      crash/page:" in err, err
    else:
        assert "new       crash/page:" in err, err
    assert query(archive / "archive.db", "SELECT count(*) FROM captures WHERE source_id = 'crash/page'") == [(1,)]
    assert_sound(archive, tmp_path)


def write_many_claims(folder: Path, n: int) -> Path:
    """A case of one local text and `n` claims, each quoting its own sentence of it."""
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "note.txt").write_text(
        " ".join(f"Фраза номер {i} из заявления." for i in range(n)) + "\n", encoding="utf-8")
    claims = "".join(f"""  - id: c{i:03d}
    text: Claim {i}
    citations:
      - source: note
        quote: "Фраза номер {i} из заявления."
        stance: supports
""" for i in range(n))
    case = folder / "many.yml"
    case.write_text(f"case:\n  id: many\n  title: Many claims\nsources:\n  - id: note\n    path: docs/note.txt\n"
                    f"claims:\n{claims}", encoding="utf-8")
    return case


def test_a_case_of_many_claims_is_synced_in_groups_and_a_kill_loses_the_last_group_only(tmp_path: Path) -> None:
    from ingest.claims.status import SYNC_EVERY
    assert SYNC_EVERY == 256
    case, archive = write_many_claims(tmp_path, 600), tmp_path / "archive"
    args = ["run", str(case), "--archive", str(archive), "--offline"]
    # Syncs 1 and 2 are the capture's; the 3rd comes after claim 512, so the kill leaves the first 256.
    code, _, err = run(args, tmp_path, "killed", KHRONIKA_FAULT="before_group_sync", KHRONIKA_FAULT_AFTER="3")
    assert code == -signal.SIGKILL, err
    db = archive / "archive.db"
    assert query(db, "SELECT count(*), min(slug), max(slug) FROM claims") == [(256, "c000", "c255")]
    assert sum(e["event"] == "claim_recorded" for e in logged(archive)) == 256
    assert query(db, "SELECT count(*), max(seq) FROM log")[0] == (len(logged(archive)),) * 2
    code, _, err = run(args, tmp_path, "resumed")
    assert code == 0, err
    assert "Claims: 600 sourced." in err, err
    assert sum(e["event"] == "claim_recorded" for e in logged(archive)) == 600  # none of the 256 recorded twice
    assert query(db, "SELECT status, count(*) FROM claims GROUP BY status") == [("sourced", 600)]
    assert query(db, "SELECT source_id, count(*) FROM captures GROUP BY source_id") == [("many/note", 1)]
    assert check_chain(list(EventLog(archive).read())) == []
    code, out, err = run(["verify", "--archive", str(archive)], tmp_path, "verify")
    assert code == 0, out + err
    assert ", 0 mismatch, 0 missing, 0 unverifiable, 0 drift." in out, out
