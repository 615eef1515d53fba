"""The capture pipeline end to end, against real HTTP servers on 127.0.0.1 and real SQLite files."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import blake3
from conftest import ROOT, Site, khronika, make_pdf, query

WARCIO = str(Path(sys.executable).parent / "warcio")
STATEMENT_B3 = "77ec5b6c21335dde4704c9ffd284a08f78d6af07d7104a9f16316287f9b658c6"
STATEMENT_SHA = "f50210f1743d5db8831df08177726a7377f47f07a284594612b240304f22d88e"

UTF8_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Суд арестовал студента</title>
<meta name="author" content="Анна Петрова"></head><body><article><h1>Суд арестовал студента</h1>
<p>Красногвардейский районный суд Санкт-Петербурга арестовал Гарри Азаряна на два месяца.</p>
<p>Защита намерена обжаловать решение суда в апелляционной инстанции в ближайшие дни.</p>
<p>Об этом сообщили в объединённой пресс-службе судов города во вторник вечером.</p>
</article></body></html>"""

CP1251_PAGE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
<title>Обыски в Петербурге</title></head><body><article><h1>Обыски в Петербурге</h1>
<p>Пятнадцатого мая в Санкт-Петербурге прошли обыски у шести человек по делу группы.</p>
<p>У задержанных изъяли листовки и брошюры, включая манифест организации.</p>
<p>Некоторых отпустили со статусом свидетелей после допросов в следственном комитете.</p>
</article></body></html>"""


def write_case(folder: Path, site: Site, extra_sources: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "note.txt").write_bytes("Записка: суд продлил арест.\n".encode("utf-8"))
    case = folder / "test.yml"
    case.write_text(f"""case:
  id: test-case
  title: Test case
sources:
  - id: note
    path: docs/note.txt
  - id: utf8
    url: {site.url('/utf8')}
  - id: cp1251
    url: {site.url('/cp1251')}
  - id: pdf
    url: {site.url('/doc.pdf')}
  - id: moved
    url: {site.url('/old')}
  - id: missing
    url: {site.url('/nothing')}
  - id: wanted-one
    wanted: true
    title: A report nobody has found yet
{extra_sources}""", encoding="utf-8")
    return case


def serve_pages(site: Site) -> None:
    site.set("/utf8", UTF8_PAGE.encode("utf-8"), Content_Type="text/html; charset=utf-8")
    site.set("/cp1251", CP1251_PAGE.encode("windows-1251"), Content_Type="text/html")
    site.set("/doc.pdf", make_pdf(["Постановление суда: мера пресечения", "Вторая страница решения"]),
             Content_Type="application/pdf")
    site.set("/old", b"", status=301, Location="/new")
    site.set("/new", UTF8_PAGE.replace("два месяца", "три месяца").encode("utf-8"), Content_Type="text/html; charset=utf-8")


def test_first_run_captures_everything_it_can(tmp_path: Path, site: Site) -> None:
    serve_pages(site)
    case = write_case(tmp_path, site)
    archive = tmp_path / "archive"
    result = khronika("run", str(case), "--archive", str(archive))
    assert result.code == 1, result.err
    assert f"failed: test-case/missing: gone: HTTP 404 Not Found at {site.url('/nothing')}" in result.err
    assert "5 new capture(s), 0 unchanged, 0 kept without fetching, 1 failed, 1 wanted." in result.err
    db = archive / "archive.db"
    rows = query(db, "SELECT source_id, version, method, status, media_type, final_url FROM captures ORDER BY source_id")
    assert rows == [
        ("test-case/cp1251", 1, "http", 200, "text/html", site.url("/cp1251")),
        ("test-case/moved", 1, "http", 200, "text/html", site.url("/new")),
        ("test-case/note", 1, "local_file", None, "text/plain", None),
        ("test-case/pdf", 1, "http", 200, "application/pdf", site.url("/doc.pdf")),
        ("test-case/utf8", 1, "http", 200, "text/html", site.url("/utf8")),
    ]
    hops = query(db, "SELECT hops FROM captures WHERE source_id = 'test-case/moved'")[0][0]
    assert '"status": 301' in hops and '"status": 200' in hops
    assert query(db, "SELECT outcome, status, error FROM attempts WHERE source_id = 'test-case/missing'") == [
        ("gone", 404, f"HTTP 404 Not Found at {site.url('/nothing')}")
    ]
    assert query(db, "SELECT ip FROM captures WHERE source_id = 'test-case/utf8'") == [("127.0.0.1",)]
    texts = dict(query(db, "SELECT c.source_id, e.text FROM captures c JOIN extractions e ON e.blake3 = c.blake3"))
    assert "арестовал Гарри Азаряна на два месяца" in texts["test-case/utf8"]
    assert "изъяли листовки и брошюры" in texts["test-case/cp1251"]
    assert "Постановление суда: мера пресечения" in texts["test-case/pdf"]
    assert texts["test-case/note"] == "Записка: суд продлил арест.\n"
    assert query(db, "SELECT e.charset FROM captures c JOIN extractions e ON e.blake3 = c.blake3 "
                     "WHERE c.source_id = 'test-case/cp1251'") == [("windows-1251",)]
    assert query(db, "SELECT e.page_count FROM captures c JOIN extractions e ON e.blake3 = c.blake3 "
                     "WHERE c.source_id = 'test-case/pdf'") == [(2,)]


def test_stored_hashes_match_an_independent_computation(tmp_path: Path, site: Site) -> None:
    serve_pages(site)
    archive = tmp_path / "archive"
    khronika("run", str(write_case(tmp_path, site)), "--archive", str(archive))
    rows = query(archive / "archive.db", "SELECT blake3, sha256, size, path FROM files")
    assert len(rows) == 6  # five captures and the case file itself
    for b3, sha, size, path in rows:
        data = (archive / path).read_bytes()
        assert (blake3.blake3(data).hexdigest(), hashlib.sha256(data).hexdigest(), len(data)) == (b3, sha, size)
        assert path == f"files/{b3[:2]}/{b3}"


def test_second_run_fetches_nothing_and_logs_nothing(tmp_path: Path, site: Site) -> None:
    serve_pages(site)
    case = write_case(tmp_path, site)
    archive = tmp_path / "archive"
    khronika("run", str(case), "--archive", str(archive))
    hits = dict(site.hits)
    log_before = query(archive / "archive.db", "SELECT count(*) FROM log")[0][0]
    result = khronika("run", str(case), "--archive", str(archive))
    assert "0 new capture(s), 1 unchanged, 4 kept without fetching, 1 failed, 1 wanted." in result.err
    # Only the never-captured source is tried again.
    assert {k: v - hits.get(k, 0) for k, v in site.hits.items() if v != hits.get(k, 0)} == {"/nothing": 1}
    # The failed attempt and the WARC holding its 404 response are the only new events.
    assert query(archive / "archive.db", "SELECT event FROM log WHERE seq > ? ORDER BY seq", (log_before,)) == [
        ("attempt",), ("warc_completed",)]
    assert query(archive / "archive.db", "SELECT count(*) FROM captures")[0][0] == 5


def test_refresh_records_unchanged_changed_gone_and_unreachable(tmp_path: Path, site: Site) -> None:
    serve_pages(site)
    case = write_case(tmp_path, site)
    archive = tmp_path / "archive"
    khronika("run", str(case), "--archive", str(archive))
    site.set("/utf8", UTF8_PAGE.replace("два месяца", "шесть месяцев").encode("utf-8"), Content_Type="text/html; charset=utf-8")
    site.set("/cp1251", b"", status=410)
    site.set("/doc.pdf", b"server trouble", status=503)
    result = khronika("run", str(case), "--archive", str(archive), "--refresh")
    assert result.code == 1
    db = archive / "archive.db"
    latest = query(db, "SELECT source_id, outcome, status FROM attempts WHERE id IN "
                       "(SELECT max(id) FROM attempts GROUP BY source_id) ORDER BY source_id")
    assert latest == [
        ("test-case/cp1251", "gone", 410),
        ("test-case/missing", "gone", 404),
        ("test-case/moved", "unchanged", 200),
        ("test-case/note", "unchanged", None),
        ("test-case/pdf", "unreachable", 503),
        ("test-case/utf8", "captured", 200),
    ]
    assert query(db, "SELECT version, previous_capture_id IS NOT NULL FROM captures "
                     "WHERE source_id = 'test-case/utf8' ORDER BY version") == [(1, 0), (2, 1)]
    # Earlier captures stay.
    assert query(db, "SELECT count(*) FROM captures WHERE source_id = 'test-case/cp1251'") == [(1,)]


def test_a_b_a_is_three_captures_sharing_two_files(tmp_path: Path, site: Site) -> None:
    serve_pages(site)
    case = write_case(tmp_path, site)
    archive = tmp_path / "archive"
    a = UTF8_PAGE.encode("utf-8")
    b = UTF8_PAGE.replace("два месяца", "три месяца").encode("utf-8")
    khronika("run", str(case), "--archive", str(archive))
    for body in (b, a):
        site.set("/utf8", body, Content_Type="text/html; charset=utf-8")
        khronika("run", str(case), "--archive", str(archive), "--refresh")
    rows = query(archive / "archive.db", "SELECT version, blake3 FROM captures WHERE source_id = 'test-case/utf8' ORDER BY version")
    assert [v for v, _ in rows] == [1, 2, 3]
    assert rows[0][1] == rows[2][1] != rows[1][1]


def gzip_members(data: bytes) -> list[bytes]:
    """Each gzip member of a WARC, decompressed (a WARC.gz is one member per record)."""
    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(data))
        data = d.unused_data
    return out


def test_warcio_check_passes_and_catches_a_flipped_byte(tmp_path: Path, site: Site) -> None:
    serve_pages(site)
    archive = tmp_path / "archive"
    khronika("run", str(write_case(tmp_path, site)), "--archive", str(archive))
    warcs = sorted((archive / "warc").glob("*.warc.gz"))
    assert len(warcs) == 1 and not list((archive / "warc").glob("*.open"))
    check = subprocess.run([WARCIO, "check", "-v", str(warcs[0])], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    records = query(archive / "archive.db", "SELECT records FROM warcs")[0][0]
    assert records == 14  # warcinfo, a resource, request+response for 6 exchanges (one is a redirect)
    assert [line.strip() for line in check.stdout.splitlines() if "digest" in line] == ["digest pass"] * records
    members = gzip_members(warcs[0].read_bytes())
    target = next(i for i, m in enumerate(members) if "Азаряна".encode("utf-8") in m)
    data = bytearray(members[target])
    data[data.index("Азаряна".encode("utf-8"))] ^= 0x01
    members[target] = bytes(data)
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(b"".join(gzip.compress(m) for m in members))
    check = subprocess.run([WARCIO, "check", str(broken)], capture_output=True, text=True)
    assert check.returncode != 0
    failures = [line.strip().split(":")[0].split(" sha256")[0] for line in check.stdout.splitlines() if "failed" in line]
    assert failures == ["block digest failed", "payload digest failed"]


def test_default_case_statement_is_captured_byte_for_byte(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(ROOT / "cases", work / "cases")
    result = khronika("run", "--archive", str(work / "archive"), cwd=work)
    assert result.code == 0, result.err
    db = work / "archive" / "archive.db"
    assert query(db, "SELECT c.blake3, f.sha256 FROM captures c JOIN files f ON f.blake3 = c.blake3") == [(STATEMENT_B3, STATEMENT_SHA)]
    assert query(db, "SELECT local_path, method FROM captures") == [("cases/workers-power/statement.txt", "local_file")]
