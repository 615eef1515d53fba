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
