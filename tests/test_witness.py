"""Independent witnesses: pywb on 127.0.0.1 over a WARC this module writes plays another web archive
(a copy where the quote is present, one where it was edited, one without it, a redirect out of the
archive, a URL it lacks); a fake archive answers its own error page with 200, a raw socket a
malformed and a huge TimeMap. Every result per citation is asserted exactly."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RawServer, Site, khronika, query, read_request
from test_interop import pywb

from ingest.capture import linkformat, memento

WORDS = ("The rest of the article describes the hearing in detail, with enough words around the quoted "
         "sentence for the extractor to keep it as the main text of the page.")


def page(sentence: str) -> bytes:
    return (f"<html><head><title>Report</title></head><body><article><p>{sentence}</p><p>{WORDS}</p>"
            "</article></body></html>").encode()


QUOTE_A = "the court moved the hearing to a closed session"
QUOTE_B = "the defendant was fined twenty thousand roubles"
QUOTE_C = "the lawyer was not allowed into the courtroom"
QUOTE_D = "the appeal was filed on the same day"
QUOTE_E = "the prosecutor asked for six years"

CASE = """\
case:
  id: "wit"
  title: "Witness case"
sources:
  - id: "present"
    url: "{base}/present"
  - id: "edited"
    url: "{base}/edited"
  - id: "gone"
    url: "{base}/gone"
  - id: "moved"
    url: "{base}/moved"
  - id: "lacking"
    url: "{base}/lacking"
claims:
  - id: "hearing-closed"
    text: "The hearing was closed."
    citations:
      - source: "present"
        quote: "{a}"
        stance: "supports"
  - id: "fined"
    text: "He was fined."
    citations:
      - source: "edited"
        quote: "{b}"
        stance: "supports"
  - id: "lawyer"
    text: "The lawyer was kept out."
    citations:
      - source: "gone"
        quote: "{c}"
        stance: "supports"
  - id: "appeal"
    text: "An appeal was filed."
    citations:
      - source: "moved"
        quote: "{d}"
        stance: "supports"
  - id: "six-years"
    text: "Six years were asked for."
    citations:
      - source: "lacking"
        quote: "{e}"
        stance: "supports"
"""


def _warc(path: Path, records: list[tuple[str, str, int, bytes, list[tuple[str, str]]]]) -> None:
    """A WARC another archive might hold: (URL, WARC-Date, status, body, headers) response records."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, date, status, body, headers in records:
            http = StatusAndHeaders(f"{status} {'OK' if status == 200 else 'Moved'}",
                                    [*headers, ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                                          warc_headers_dict={"WARC-Date": date}))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The live site, our archive of it, and pywb holding the other archive's copies."""
    tmp = tmp_path_factory.mktemp("witness")
    site = Site()
    html = {"Content_Type": "text/html; charset=utf-8"}
    site.set("/present", page(f"On Monday {QUOTE_A}, the report said."), **html)
    site.set("/edited", page(f"On Monday {QUOTE_B}, the report said."), **html)
    site.set("/gone", page(f"On Monday {QUOTE_C}, the report said."), **html)
    site.set("/moved", page(f"On Monday {QUOTE_D}, the report said."), **html)
    site.set("/lacking", page(f"On Monday {QUOTE_E}, the report said."), **html)
    (tmp / "cases").mkdir()
    (tmp / "cases" / "wit.yml").write_text(CASE.format(base=site.base, a=QUOTE_A, b=QUOTE_B, c=QUOTE_C, d=QUOTE_D,
                                                       e=QUOTE_E), "utf-8")
    r = khronika("run", "--archive", str(tmp / "archive"), cwd=tmp)
    assert r.code == 0, r.out + r.err
    b, ct = site.base, [("Content-Type", "text/html; charset=utf-8")]
    _warc(tmp / "other.warc.gz", [
        (f"{b}/present", "2025-04-20T10:00:00Z", 200, page(f"Earlier, {QUOTE_A}, the report said."), ct),
        (f"{b}/present", "2030-01-01T00:00:00Z", 200, page(f"Later, {QUOTE_A}, the report said."), ct),
        (f"{b}/edited", "2025-04-20T10:00:00Z", 200, page("On Monday the defendant was fined thirty thousand roubles, "
                                                          "the report said."), ct),
        (f"{b}/gone", "2025-04-20T10:00:00Z", 200, page("On Monday nothing of note happened, the report said."), ct),
        (f"{b}/moved", "2025-04-20T10:00:00Z", 301, b"", [("Location", "http://elsewhere.example/x")]),
    ])
    with pywb(tmp / "other.warc.gz", tmp / "pywb") as base:
        yield {"tmp": tmp, "site": site, "pywb": base, "archive": tmp / "archive", "db": tmp / "archive" / "archive.db"}
    site.close()


def _witness(world: dict, *args: str) -> object:
    return khronika("witness", "--archive", str(world["archive"]), *args, cwd=world["tmp"])


@pytest.fixture(scope="module")
def pywb_run(world: dict) -> dict:
    """One witness run against pywb, and a copy of the archive right after it (for verify, the site, the bag)."""
    r = _witness(world, "wit", "--memento-archive", world["pywb"] + "/")
    shutil.copytree(world["archive"], world["tmp"] / "after-pywb", ignore=shutil.ignore_patterns(".lock"))
    return {"result": r, "archive": world["tmp"] / "after-pywb"}


def test_witness_results_per_citation_from_pywb(world: dict, pywb_run: dict) -> None:
    r = pywb_run["result"]
    name = world["pywb"].removeprefix("http://")
    b = world["site"].base
    assert r.code == 1, r.out + r.err  # one copy could not be used: said, and the exit code says so
    rows = query(world["db"], "SELECT citation_id, archive, result, relation, memento_datetime FROM witness_checks "
                              "ORDER BY id")
    assert rows == [
        ("wit/fined#1", name, "differs", "before", "2025-04-20T10:00:00Z"),
        ("wit/lawyer#1", name, "absent", "before", "2025-04-20T10:00:00Z"),
        ("wit/six-years#1", name, "no_memento", None, None),
        ("wit/appeal#1", name, "unreachable", "before", None),
        ("wit/hearing-closed#1", name, "witnessed", "before", "2025-04-20T10:00:00Z"),
        ("wit/hearing-closed#1", name, "witnessed", "after", "2030-01-01T00:00:00Z"),
    ]
    details = dict(query(world["db"], "SELECT citation_id || ' ' || coalesce(relation, ''), detail FROM witness_checks"))
    assert details["wit/six-years#1 "] == (f"{name} holds no copy (HTTP 404 Not Found at "
                                           f"{world['pywb']}/timemap/link/{b}/lacking)")
    assert details["wit/fined#1 before"] == (
        f"the passage differs in {name}'s copy of 2025-04-20T10:00:00Z (before our capture): "
        "\u201cthe defendant was fined thirty thousand roubles\u201d (not found; closest passage at 10 differs by 3 edits (score 0.94))")
    assert details["wit/appeal#1 before"] == (
        f"{name}'s copy of 2025-04-20T10:00:00Z (before our capture) is not usable (elsewhere): the memento "
        f"redirects out of the archive, to http://elsewhere.example/x (from {world['pywb']}/20250420100000id_/{b}/moved)")
    assert details["wit/hearing-closed#1 before"] == (f"quote present (exact) at [9, 56) of {name}'s copy of "
                                                      "2025-04-20T10:00:00Z (before our capture)")
    assert details["wit/lawyer#1 before"] == (f"quote not in {name}'s copy of 2025-04-20T10:00:00Z (before our "
                                              "capture) (not found, even approximately)")
    diff = query(world["db"], "SELECT diff FROM witness_checks WHERE result = 'differs'")[0][0]
    assert diff == (f"--- ours\n+++ {name}\n@@ -1 +1 @@\n-the defendant was fined twenty thousand roubles\n"
                    "+the defendant was fined thirty thousand roubles")
    lines = r.out.splitlines()
    assert lines[-2] == ("6 witness check(s) of 5 source(s) in 1 archive(s): 2 witnessed, 1 differs, 1 absent, "
                         "1 no_memento, 1 unreachable. Witnesses never change a claim's status.")
    # The raw copies are captures of the witness kind: stored, hashed, in the WARC, extracted.
    caps = query(world["db"], "SELECT w.outcome, w.raw, w.fetched_url, f.size IS NOT NULL, e.text IS NOT NULL "
                              "FROM witness_captures w LEFT JOIN files f ON f.blake3 = w.blake3 "
                              "LEFT JOIN extractions e ON e.blake3 = w.blake3 ORDER BY w.id")
    assert caps == [
        ("captured", 1, f"{world['pywb']}/20250420100000id_/{b}/edited", 1, 1),
        ("captured", 1, f"{world['pywb']}/20250420100000id_/{b}/gone", 1, 1),
        ("elsewhere", 1, f"{world['pywb']}/20250420100000id_/{b}/moved", 0, 0),
        ("captured", 1, f"{world['pywb']}/20250420100000id_/{b}/present", 1, 1),
        ("captured", 1, f"{world['pywb']}/20300101000000id_/{b}/present", 1, 1),
    ]
    # Claims keep their own status.
    assert query(world["db"], "SELECT DISTINCT status FROM claims") == [("sourced",)]


def test_verify_counts_witnesses_and_never_downgrades(world: dict, pywb_run: dict) -> None:
    name = world["pywb"].removeprefix("http://")
    v = khronika("verify", "--archive", str(pywb_run["archive"]), cwd=world["tmp"])
    assert v.code == 0, v.out + v.err
    lines = [line for line in v.out.splitlines() if "witness" in line]
    assert lines == [
        f"warning witness differs citation wit/fined#1: the passage differs in {name}'s copy of 2025-04-20T10:00:00Z "
        "(before our capture): \u201cthe defendant was fined thirty thousand roubles\u201d (not found; closest passage "
        "at 10 differs by 3 edits (score 0.94))",
        f"warning witness absent citation wit/lawyer#1: quote not in {name}'s copy of 2025-04-20T10:00:00Z (before our "
        "capture) (not found, even approximately)",
        "witnesses: 5 citation(s) looked up in other web archives: 1 witnessed, 1 differs, 1 absent, 1 unreachable, "
        "1 no_memento (independent support or warnings; never in the exit code, never a claim's status)",
    ]
    j = khronika("verify", "--archive", str(pywb_run["archive"]), "--json", cwd=world["tmp"])
    assert json.loads(j.out)["witnesses"] == {
        "counts": {"witnessed": 1, "differs": 1, "absent": 1, "unreachable": 1, "no_memento": 1, "unverifiable": 0},
        "citations": {"wit/appeal#1": "unreachable", "wit/fined#1": "differs", "wit/hearing-closed#1": "witnessed",
                      "wit/lawyer#1": "absent", "wit/six-years#1": "no_memento"}}


def test_a_witness_copy_altered_no_longer_counts(world: dict, pywb_run: dict) -> None:
    copy = world["tmp"] / "altered"
    shutil.copytree(pywb_run["archive"], copy)
    for (blake3,) in query(copy / "archive.db", "SELECT blake3 FROM witness_captures WHERE memento_url LIKE '%present'"):
        (copy / "files" / blake3[:2] / blake3).write_bytes(b"forged")
    v = khronika("verify", "--archive", str(copy), cwd=world["tmp"])
    assert v.code == 1  # the altered files themselves are a fixity mismatch
    lines = [line for line in v.out.splitlines() if line.startswith(("warning witness unverifiable", "witnesses:"))]
    assert [line.split(": the copy")[0] for line in lines[:2]] == [
        "warning witness unverifiable citation wit/hearing-closed#1"] * 2
    assert lines[2] == ("witnesses: 5 citation(s) looked up in other web archives: 0 witnessed, 1 differs, 1 absent, "
                        "1 unreachable, 1 no_memento, 1 unverifiable (independent support or warnings; never in the exit "
                        "code, never a claim's status)")


def test_claim_page_and_bag_show_the_witnesses(world: dict, pywb_run: dict) -> None:
    from test_web import make_datasette, text_of

    name = world["pywb"].removeprefix("http://")
    b = world["site"].base
    ds = make_datasette(pywb_run["archive"])
    html = text_of(ds, "/-/claim/wit/hearing-closed")
    assert (f"Other archives: Also present in {name}&#39;s copy of 2025-04-20T10:00:00Z (before our capture). "
            f'<a class="memento" href="{world["pywb"]}/20250420100000mp_/{b}/present" '
            'rel="noopener noreferrer nofollow">Their copy</a>') in html
    assert f"Also present in {name}&#39;s copy of 2025-04-01T00:00:00Z" not in html
    assert f"Also present in {name}&#39;s copy of 2030-01-01T00:00:00Z (after our capture)." in html
    fined = text_of(ds, "/-/claim/wit/fined")
    assert f"Other archives: The passage differs in {name}&#39;s copy of 2025-04-20T10:00:00Z (before our capture)." in fined
    assert "+the defendant was fined thirty thousand roubles" in fined
    assert "(this never changes the claim's status)" in fined
    search = text_of(ds, "/-/search?q=thirty+thousand")
    assert (f'<span class="witness-of">{name}\'s copy of 2025-04-20T10:00:00Z, a witness for '
            '<a href="/-/source/wit/edited">wit/edited</a></span>') in search
    r = khronika("export", "wit", "--archive", str(pywb_run["archive"]), "--out", str(world["tmp"] / "bag"),
                 cwd=world["tmp"])
    assert r.code == 0, r.err
    bag_db = world["tmp"] / "bag" / "data" / "archive.db"
    assert query(bag_db, "SELECT citation_id, result FROM witness_checks ORDER BY id") == query(
        pywb_run["archive"] / "archive.db", "SELECT citation_id, result FROM witness_checks ORDER BY id")
    kinds = query(bag_db, "SELECT refers_to, count(*) FROM bag_warc_records GROUP BY refers_to ORDER BY refers_to")
    assert ("witness_captures", 5) in kinds and ("witness_lookups", 5) in kinds
    report = (world["tmp"] / "bag" / "data" / "report.html").read_text("utf-8")
    assert f"Other archives: Also present in {name}&#x27;s copy of 2030-01-01T00:00:00Z (after our capture)." in report
    fp = next(line.split()[-1] for line in r.out.splitlines() if line.startswith("key fingerprint "))
    v = khronika("verify-bag", str(world["tmp"] / "bag"), "--key-fingerprint", fp, cwd=world["tmp"])
    assert v.code == 0, v.out + v.err
    assert v.out.splitlines()[-2] == (
        "witnesses: 5 citation(s) looked up in other web archives: 1 witnessed, 1 differs, 1 absent, 1 unreachable, "
        "1 no_memento (independent support or warnings; never in the exit code, never a claim's status)")


def test_the_witness_tables_rebuild_from_the_log(world: dict, pywb_run: dict) -> None:
    copy = world["tmp"] / "rebuilt"
    shutil.copytree(pywb_run["archive"], copy)
    tables = ("witness_lookups", "witness_captures", "witness_checks")
    before = {t: query(copy / "archive.db", f"SELECT * FROM {t} ORDER BY id") for t in tables}
    for suffix in ("", "-wal", "-shm"):
        (copy / f"archive.db{suffix}").unlink(missing_ok=True)
    r = khronika("verify", "--archive", str(copy), cwd=world["tmp"])
    assert r.code == 0, r.out + r.err
    assert {t: query(copy / "archive.db", f"SELECT * FROM {t} ORDER BY id") for t in tables} == before
    assert len(before["witness_checks"]) == 6


def _raw_timemap(body: bytes, length: int | None = None) -> RawServer:
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/link-format\r\n"
                f"Content-Length: {length or len(body)}\r\nConnection: close\r\n\r\n").encode()
        conn.sendall(head + body)
    return RawServer(handle)


def test_bad_archives_are_recorded_plainly_and_never_witness(world: dict) -> None:
    """An archive's own error page served with 200, a memento redirecting to a copy of another page,
    a malformed TimeMap and a huge one: each recorded as what it is, none counted as a witness."""
    b = world["site"].base
    fake = Site()  # an archive that lists mementos it cannot give
    fake.set(f"/tm/{b}/present", f'<{fake.base}/web/20250420100000/{b}/present>; rel="memento"; '
                                 f'datetime="Sun, 20 Apr 2025 10:00:00 GMT"'.encode(), Content_Type="application/link-format")
    fake.set(f"/web/20250420100000id_/{b}/present", b"<html><body><p>Sorry, this page has not been archived. Try "
                                                    b"again later or search for another page.</p></body></html>",
             Content_Type="text/html")
    fake.set(f"/tm/{b}/edited", f'<{fake.base}/web/20250420100000/{b}/edited>; rel="memento"; '
                                f'datetime="Sun, 20 Apr 2025 10:00:00 GMT"'.encode(), Content_Type="application/link-format")
    fake.set(f"/web/20250420100000id_/{b}/edited", b"", status=302,
             Location=f"{fake.base}/web/20250420100000id_/http://other.example/y")
    fake.set("/web/20250420100000id_/http://other.example/y", page(f"Elsewhere {QUOTE_B}, it said."),
             Content_Type="text/html", Memento_Datetime="Sun, 20 Apr 2025 10:00:00 GMT",
             Link='<http://other.example/y>; rel="original"')
    malformed = _raw_timemap(b'<http://x.example/a>; rel="memento" datetime="Sun, 20 Apr 2025 10:00:00 GMT"')
    baddate = _raw_timemap(b'<http://x.example/a>; rel="memento"; datetime="yesterday",\n')
    huge = _raw_timemap(b"<" + b"x" * 5000, length=5001)
    config = world["tmp"] / "bad-archives.json"
    config.write_text(json.dumps({"archives": [
        {"name": "fake", "timemap": fake.base + "/tm/{url}", "raw": "id_"},
        {"name": "malformed", "timemap": malformed.url + "/{url}"},
        {"name": "baddate", "timemap": baddate.url + "/{url}"},
        {"name": "huge", "timemap": huge.url + "/{url}"}]}), "utf-8")
    try:
        r = _witness(world, "--config", str(config), "--max-timemap", "1000")
    finally:
        for s in (fake, malformed, baddate, huge):
            s.close()
    assert r.code == 1, r.out + r.err
    got = query(world["db"], "SELECT citation_id, result, detail FROM witness_checks WHERE archive = ? "
                             "AND citation_id IN ('wit/hearing-closed#1', 'wit/fined#1') ORDER BY id", ("fake",))
    assert got == [
        ("wit/fined#1", "unreachable", f"fake's copy of 2025-04-20T10:00:00Z (before our capture) is not usable "
                                       f"(elsewhere): {fake.base}/web/20250420100000id_/http://other.example/y is a "
                                       f"copy of http://other.example/y, not of {b}/edited"),
        ("wit/hearing-closed#1", "unreachable", f"fake's copy of 2025-04-20T10:00:00Z (before our capture) is not "
                                                f"usable (not_a_memento): {fake.base}/web/20250420100000id_/{b}/present "
                                                "answered HTTP 200 without Memento-Datetime: the archive's own page, "
                                                "not an archived copy"),
    ]
    lookups = query(world["db"], "SELECT archive, outcome, detail FROM witness_lookups WHERE source_id = 'wit/present' "
                                 "AND archive != 'fake' AND archive NOT LIKE '127.0.0.1%' ORDER BY id")
    assert lookups == [
        ("malformed", "unreachable", f"malformed TimeMap at {malformed.url}/{b}/present is malformed: line 1, column 37: "
                                     "expected ';' before a parameter or ',' after a link, found 'd'"),
        ("baddate", "unreachable", f"baddate TimeMap at {baddate.url}/{b}/present is malformed: link 1 "
                                   "(http://x.example/a): datetime 'yesterday' is not an HTTP date"),
        ("huge", "unreachable", f"huge TimeMap: body exceeds 1000 bytes (limit --max-timemap) at {huge.url}/{b}/present"),
    ]
    # Each failed lookup gave every citation of the source an unreachable result, with the same reason.
    assert query(world["db"], "SELECT archive, result FROM witness_checks WHERE citation_id = 'wit/hearing-closed#1' "
                              "AND archive IN ('malformed', 'baddate', 'huge') ORDER BY id") == [
        ("malformed", "unreachable"), ("baddate", "unreachable"), ("huge", "unreachable")]
    assert query(world["db"], "SELECT count(*) FROM witness_checks WHERE result = 'witnessed' AND archive IN "
                              "('fake', 'malformed', 'baddate', 'huge')") == [(0,)]
    # The error page was fetched and kept in the WARC, but is no witness capture: no file stored for it.
    assert query(world["db"], "SELECT outcome, blake3 FROM witness_captures WHERE archive = 'fake' ORDER BY id") == [
        ("elsewhere", None), ("not_a_memento", None)]


@pytest.mark.parametrize("doc, message", [
    ({"archives": []}, "archives: must be a non-empty list"),
    ({"archives": [{"name": "x", "timemap": "https://a.example/tm/"}]},
     "archives.0.timemap: must be an http(s) URL holding {url}, not 'https://a.example/tm/'"),
    ({"archives": [{"name": "x", "timemap": "file:///etc/{url}"}]},
     "archives.0.timemap: must be an http(s) URL with a host and no credentials, not 'file:///etc/{url}'"),
    ({"archives": [{"name": "x", "timemap": "https://u:p@a.example/{url}"}]},
     "archives.0.timemap: must be an http(s) URL with a host and no credentials, not 'https://u:p@a.example/{url}'"),
    ({"archives": [{"name": "x", "timemap": "https://a.example/{url}", "rawmode": "id_"}]},
     "archives.0: unknown key 'rawmode' (known: name, raw, submit, timegate, timemap)"),
    ({"archives": [{"name": "x", "timemap": "https://a.example/{url}", "raw": "if_"}]},
     "archives.0.raw: must be \"id_\" (Wayback-style raw replay) or null"),
    ({"archives": [{"name": "x", "timemap": "https://a.example/{url}"}], "submit_interval": -1},
     "submit_interval: must be a number of seconds from 0 to 3600"),
    ({"archive": []}, "must be an object with \"archives\" (and \"submit_interval\"); unknown key 'archive'"),
])
def test_a_bad_config_file_is_a_usage_error_naming_the_key(world: dict, doc: dict, message: str) -> None:
    config = world["tmp"] / "config.json"
    config.write_text(json.dumps(doc), "utf-8")
    before = query(world["db"], "SELECT max(seq) FROM log")
    r = _witness(world, "--config", str(config))
    assert (r.code, r.err.strip(), r.out) == (2, f"error: {config}: {message}", "")
    assert query(world["db"], "SELECT max(seq) FROM log") == before


@pytest.mark.parametrize("text, message", [
    ('<http://a/>; rel="memento"; datetime="x', "line 1, column 38: a quoted value is never closed, found '\"'"),
    ("<http://a/; rel=memento", "line 1, column 1: a link target opened with '<' is never closed with '>', found '<'"),
    ("http://a/; rel=memento", "line 1, column 1: expected '<' to open a link target, found 'h'"),
    ('<http://a/>; rel="memento",\n<http://b/> <http://c/>', "line 2, column 13: expected ';' before a parameter or ',' "
                                                           "after a link, found '<'"),
    ("<http://a/>;=x", "line 1, column 13: expected a parameter name, found '='"),
    ("<http://a b/>", "line 1, column 1: link target 'http://a b/' is empty or holds white space, '<' or a control character"),
    ("<http://a/>\x00", "line 1, column 12: a NUL character: not a link-format document"),
])
def test_link_format_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(linkformat.LinkFormatError) as err:
        linkformat.parse(text)
    assert str(err.value) == message


def test_link_format_reads_what_archives_write() -> None:
    doc = ('<http://a.example/tm>; rel="self"; type="application/link-format",\n'
           '<http://a.example/>; rel="original",\r\n'
           '<http://w.example/20250420100000/http://a.example/> ; rel="first memento" ; '
           'datetime="Sun, 20 Apr 2025 10:00:00 GMT",\n'
           '</20250422100000/http://a.example/>; rel=memento; datetime="Tue, 22 Apr 2025 10:00:00 GMT"; x="a\\"b",\n')
    links = linkformat.parse(doc.encode())
    assert [(link.target, link.rels) for link in links] == [
        ("http://a.example/tm", ("self",)), ("http://a.example/", ("original",)),
        ("http://w.example/20250420100000/http://a.example/", ("first", "memento")),
        ("/20250422100000/http://a.example/", ("memento",))]
    assert links[3].param("x") == 'a"b'
    found = memento.parse_timemap(doc.encode(), "http://w.example/tm")
    assert [(m.url, m.at) for m in found] == [
        ("http://w.example/20250420100000/http://a.example/", "2025-04-20T10:00:00Z"),
        ("http://w.example/20250422100000/http://a.example/", "2025-04-22T10:00:00Z")]
    with pytest.raises(linkformat.LinkFormatError) as err:
        linkformat.parse("<http://a/>, " * 3, max_links=2)
    assert str(err.value) == "more than 2 links (limit): not read further"


@pytest.mark.parametrize("url, raw", [
    ("https://web.archive.org/web/20250421100200/https://example.org/a?b=1",
     "https://web.archive.org/web/20250421100200id_/https://example.org/a?b=1"),
    ("http://127.0.0.1:8080/c/20250420100000mp_/http://example.org/",
     "http://127.0.0.1:8080/c/20250420100000id_/http://example.org/"),
    ("https://archive.example/no-timestamp/http://example.org/", "https://archive.example/no-timestamp/http://example.org/"),
])
def test_raw_replay_address(url: str, raw: str) -> None:
    assert memento.raw_url(memento.ArchiveSpec("x", "https://a/{url}", "id_"), url) == raw
    assert memento.raw_url(memento.ArchiveSpec("x", "https://a/{url}", None), url) == url


def test_a_second_run_uses_the_copies_it_has(world: dict, pywb_run: dict) -> None:
    name = world["pywb"].removeprefix("http://")
    count = "SELECT outcome, count(*) FROM witness_captures WHERE archive = ? GROUP BY outcome ORDER BY outcome"
    before = query(world["db"], count, (name,))
    r = _witness(world, "wit", "--memento-archive", world["pywb"] + "/")
    assert r.code == 1, r.out + r.err
    # the four copies are not fetched again; the redirect that was no copy is asked again, and refused again
    assert before == [("captured", 4), ("elsewhere", 1)]
    assert query(world["db"], count, (name,)) == [("captured", 4), ("elsewhere", 2)]
    latest = query(world["db"], "SELECT result FROM witness_checks WHERE archive = ? AND lookup_id IN (SELECT max(id) "
                                "FROM witness_lookups WHERE archive = ? GROUP BY source_id) ORDER BY id", (name, name))
    assert latest == [("differs",), ("absent",), ("no_memento",), ("unreachable",), ("witnessed",), ("witnessed",)]


def test_submit_asks_each_archive_at_the_configured_pace_and_records_every_request(world: dict) -> None:
    b = world["site"].base
    saver = Site()
    for path in ("present", "edited", "gone", "moved"):
        saver.set(f"/save/{b}/{path}", b"", status=302, Location=f"/web/20991231000000/{b}/{path}")
        saver.set(f"/web/20991231000000/{b}/{path}", b"<html><body>archived</body></html>", Content_Type="text/html",
                  Memento_Datetime="Thu, 31 Dec 2099 00:00:00 GMT")
    saver.set(f"/save/{b}/lacking", b"slow down", status=429, Content_Type="text/plain")
    config = world["tmp"] / "saver.json"
    config.write_text(json.dumps({"archives": [{"name": "saver", "timemap": saver.base + "/tm/{url}", "raw": "id_",
                                                "submit": saver.base + "/save/{url}"}], "submit_interval": 1}), "utf-8")
    try:
        r = _witness(world, "wit", "--config", str(config), "--submit")
    finally:
        saver.close()
    assert r.code == 1, r.out + r.err  # one archive refused a submission: said, and the exit code says so
    rows = query(world["db"], "SELECT source_id, outcome, status, memento_url, request_url, detail FROM "
                              "witness_submissions WHERE archive = 'saver' ORDER BY id")
    ok = [(f"wit/{p}", "submitted", 200, f"{saver.base}/web/20991231000000/{b}/{p}", f"{saver.base}/save/{b}/{p}", None)
          for p in ("edited", "gone", "lacking", "moved", "present")]
    ok[2] = ("wit/lacking", "failed", 429, None, f"{saver.base}/save/{b}/lacking",
             f"HTTP 429 Too Many Requests at {saver.base}/save/{b}/lacking")
    assert rows == ok
    assert f"not submitted wit/lacking to saver: HTTP 429 Too Many Requests at {saver.base}/save/{b}/lacking" in r.out
    assert {saver.hits[f"/save/{b}/{p}"] for p in ("edited", "gone", "lacking", "moved", "present")} == {1}
    times = [dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for (t,) in query(
        world["db"], "SELECT requested_at FROM witness_submissions WHERE archive = 'saver' ORDER BY id")]
    assert min((later - earlier).total_seconds() for earlier, later in zip(times, times[1:])) >= 1.0
    assert [line for line in r.out.splitlines() if line.startswith("submitted")][0] == (
        f"submitted wit/edited to saver: {saver.base}/web/20991231000000/{b}/edited")
    # each request and its answer is in the WARC, as every exchange is
    assert query(world["db"], "SELECT count(*) FROM witness_submissions WHERE archive = 'saver' AND warc_file IS NOT NULL "
                              "AND hops LIKE '%/save/%'") == [(5,)]


def test_a_timemap_too_large_is_not_read_and_the_timegate_is_asked(world: dict) -> None:
    b = world["site"].base
    gated = Site()
    gated.set(f"/tm/{b}/present", b"<http://x.example/>; rel=\"memento\",\n" * 100, Content_Type="application/link-format")
    gated.set(f"/tg/{b}/present", b"", status=302, Location=f"/web/20250420100000/{b}/present", Vary="accept-datetime",
              Link=f'<{b}/present>; rel="original", <{gated.base}/web/20250420100000/{b}/present>; rel="memento"; '
                   f'datetime="Sun, 20 Apr 2025 10:00:00 GMT", <{gated.base}/web/20300101000000/{b}/present>; '
                   'rel="next memento"; datetime="Tue, 01 Jan 2030 00:00:00 GMT"')
    for stamp, when in (("20250420100000", "Sun, 20 Apr 2025 10:00:00 GMT"), ("20300101000000", "Tue, 01 Jan 2030 00:00:00 GMT")):
        gated.set(f"/web/{stamp}id_/{b}/present", page(f"Then {QUOTE_A}, it said."), Content_Type="text/html",
                  Memento_Datetime=when, Link=f'<{b}/present>; rel="original"')
    config = world["tmp"] / "gated.json"
    config.write_text(json.dumps({"archives": [{"name": "gated", "timemap": gated.base + "/tm/{url}", "raw": "id_",
                                                "timegate": gated.base + "/tg/{url}"}]}), "utf-8")
    try:
        r = _witness(world, "wit", "--config", str(config), "--max-timemap", "1000")
    finally:
        gated.close()
    assert r.code == 0, r.out + r.err
    assert query(world["db"], "SELECT result, relation, memento_datetime FROM witness_checks WHERE archive = 'gated' "
                              "AND citation_id = 'wit/hearing-closed#1' ORDER BY id") == [
        ("witnessed", "before", "2025-04-20T10:00:00Z"), ("witnessed", "after", "2030-01-01T00:00:00Z")]
    (detail, hops, reference), = query(world["db"], "SELECT detail, hops, reference_at FROM witness_lookups WHERE "
                                                    "archive = 'gated' AND source_id = 'wit/present'")
    assert detail == (f"gated TimeMap: body exceeds 1000 bytes (limit --max-timemap) at {gated.base}/tm/{b}/present; "
                      "its TimeGate named 2 memento(s)")
    asked = json.loads(hops)[-1]
    assert (asked["url"], asked["status"]) == (f"{gated.base}/tg/{b}/present", 302)
    sent = dict(asked["request_headers"])["Accept-Datetime"]
    assert memento.iso(memento.http_date(sent)) == reference  # our capture's time, to the second
    assert gated.hits.get(f"/web/20250420100000/{b}/present") is None  # the redirect was read, not followed


@pytest.mark.parametrize("result, ours_found, said", [
    ("witnessed", True, "Also present in IA's copy of 2025-04-21T10:02:00Z (before our capture)."),
    ("witnessed", False, "Present in IA's copy of 2025-04-21T10:02:00Z (before our capture), though not found in our "
                         "archived copy."),
    ("differs", True, "The passage differs in IA's copy of 2025-04-21T10:02:00Z (before our capture)."),
    ("absent", True, "Not in IA's copy of 2025-04-21T10:02:00Z (before our capture)."),
    ("no_memento", True, "IA holds no copy of this page."),
    ("unreachable", True, "IA could not be used: why"),
])
def test_witness_phrases(result: str, ours_found: bool, said: str) -> None:
    from ingest.checks.witnessed import phrase

    row = {"archive": "IA", "memento_datetime": "2025-04-21T10:02:00Z", "relation": "before", "result": result,
           "detail": "why"}
    assert phrase(row, ours_found) == said


def test_a_source_captured_in_the_browser_is_named_as_not_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Witnesses compare raw copies with HTTP captures' text: a cited browser source is said to be
    left out, never silently missing from the count."""
    case = tmp_path / "c.yml"
    case.write_text("""case:
  id: c
  title: C
sources:
  - id: page
    url: http://127.0.0.1:9/page
    capture: browser
claims:
  - id: fine
    text: He was fined.
    citations:
      - source: page
        quote: The court fined him
        stance: supports
""", encoding="utf-8")
    monkeypatch.setenv("KHRONIKA_CHROMIUM", str(tmp_path / "no-chromium"))
    assert khronika("run", str(case), "--archive", str(tmp_path / "archive")).code == 1
    monkeypatch.delenv("KHRONIKA_CHROMIUM")
    r = khronika("witness", "--archive", str(tmp_path / "archive"), "--memento-archive", "http://127.0.0.1:9/")
    assert r.code == 0, r.err
    assert r.err.splitlines()[0] == "asking 127.0.0.1:9"
    assert r.out.splitlines()[:2] == [
        "not asked: c/page: captured by browser; witnesses are compared with HTTP captures only",
        "0 witness check(s) of 0 source(s) in 1 archive(s): 0 witnessed, 0 differs, 0 absent, 0 no_memento, "
        "0 unreachable. Witnesses never change a claim's status.",
    ]
