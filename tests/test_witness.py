"""Independent witnesses: pywb on 127.0.0.1 over a WARC this module writes plays another web archive
(a copy where the quote is present, one where it was edited, one without it, a redirect out of the
archive, a URL it lacks); a fake archive answers its own error page with 200, a raw socket a
malformed and a huge TimeMap. Every result per citation is asserted exactly."""

from __future__ import annotations

import io
import json
import socket
import time
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


def test_witness_results_per_citation_from_pywb(world: dict) -> None:
    r = _witness(world, "wit", "--memento-archive", world["pywb"] + "/")
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
    assert lines[-2] == (f"6 witness check(s) of 5 source(s) in 1 archive(s): 2 witnessed, 1 differs, 1 absent, "
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
    v = khronika("verify", "--archive", str(world["archive"]), cwd=world["tmp"])
    assert v.code == 0, v.out + v.err


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
     "archives.0: unknown key 'rawmode' (known: name, raw, submit, timemap)"),
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
