"""Pages in hostile and legacy encodings, fetched from 127.0.0.1, anchored, and served back as archived copies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Site, khronika, query, start_serve, stop_serve
from test_web import make_datasette

FILLER = ("<p>The hearing was held in the district court building on the embankment, and the "
          "defence said it would appeal against the decision within ten days.</p>")


def page(head: str, sentence: str) -> str:
    return f"<html><head>{head}<title>Report</title></head><body><article><p>{sentence}</p>{FILLER}</article></body></html>"


# (source id, bytes, Content-Type sent, quote, the sentence a reader sees, status, served Content-Type)
PAGES = [
    ("utf7", page("", "+AFQ-he +AG0-inister admitted torture in custody.").encode(), "text/html; charset=utf-7",
     "The minister admitted torture", "+AFQ-he +AG0-inister admitted torture in custody.", "unsourced",
     "text/html; charset=utf-8"),
    ("unicode-escape", page('<meta charset="unicode_escape">', "\\u0048idden confession was read out.").encode(),
     "text/html", "Hidden confession was read out", "\\u0048idden confession was read out.", "unsourced",
     "text/html; charset=utf-8"),
    ("cp1252-0x81", page("", "Spain\u2019s court \x00ruled on the appeal.").encode("cp1252").replace(b"\x00", b"\x81"),
     "text/html; charset=windows-1252", "Spain\u2019s court", "Spain\u2019s court \x81ruled on the appeal.", "sourced",
     "text/html; charset=windows-1252"),
    ("cp1251-0x98", page("", "Суд \x00арестовал студента на два месяца.").encode("cp1251").replace(b"\x00", b"\x98"),
     "text/html; charset=windows-1251", "арестовал студента на два месяца", "Суд \x98арестовал студента на два месяца.",
     "sourced", "text/html; charset=windows-1251"),
    ("cp1251-meta", page('<meta charset="windows-1251">', "Суд арестовал студента на два месяца.").encode("cp1251"),
     "text/html", "Суд арестовал студента на два месяца", "Суд арестовал студента на два месяца.", "sourced",
     "text/html; charset=windows-1251"),
]


def write_case(folder: Path, site: Site) -> Path:
    lines = ["case:", "  id: enc", "  title: Encodings", "sources:"]
    for sid, data, content_type, *_ in PAGES:
        lines += [f"  - id: {sid}", f"    url: {site.set('/' + sid, data, Content_Type=content_type)}"]
    lines.append("claims:")
    for sid, _, _, quote, *_ in PAGES:
        lines += [f"  - id: {sid}-claim", f"    text: What the {sid} page says", "    citations:",
                  f"      - source: {sid}", f'        quote: "{quote}"', "        stance: supports"]
    case = folder / "enc.yml"
    case.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return case


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("charset-pages")
    site = Site()
    try:
        result = khronika("run", str(write_case(folder, site)), "--archive", str(folder / "archive"))
        assert result.code == 0, result.err
    finally:
        site.close()
    yield folder / "archive"


def test_every_page_is_decoded_as_a_browser_decodes_it(archive: Path) -> None:
    rows = query(archive / "archive.db", """
        SELECT c.source_id, e.charset, e.charset_source, cl.status FROM captures c
        JOIN extractions e ON e.blake3 = c.blake3 JOIN claims cl ON cl.id = c.source_id || '-claim'
        ORDER BY c.id""")
    assert rows == [
        ("enc/utf7", "utf-8", "detected", "unsourced"),
        ("enc/unicode-escape", "utf-8", "detected", "unsourced"),
        ("enc/cp1252-0x81", "windows-1252", "http", "sourced"),
        ("enc/cp1251-0x98", "windows-1251", "http", "sourced"),
        ("enc/cp1251-meta", "windows-1251", "meta", "sourced"),
    ]
    texts = dict(query(archive / "archive.db", "SELECT c.source_id, e.text FROM captures c JOIN extractions e ON e.blake3 = c.blake3"))
    # trafilatura drops the C1 controls U+0081 and U+0098, which a browser does not draw either
    assert {sid: texts[f"enc/{sid}"].splitlines()[0] for sid, *_ in PAGES} == \
        {sid: seen.replace("\x81", "").replace("\x98", "") for sid, _, _, _, seen, *_ in PAGES}


def test_archived_copies_are_served_in_the_encoding_they_were_read_in(archive: Path) -> None:
    ds = make_datasette(archive)
    blake3 = dict(query(archive / "archive.db", "SELECT source_id, blake3 FROM captures"))
    served = {}
    for sid, data, *_ in PAGES:
        r = asyncio.run(ds.client.get(f"/-/archive/{blake3['enc/' + sid]}"))
        assert (r.status_code, r.content) == (200, data)
        served[sid] = r.headers["content-type"]
    assert served == {sid: p[-1] for sid, *p in PAGES}


@pytest.fixture(scope="module")
def served(archive: Path) -> Iterator[str]:
    proc, base = start_serve(archive, archive.parent / "serve.log")
    yield base
    stop_serve(proc)


@pytest.mark.slow
def test_chromium_shows_each_archived_copy_with_the_text_the_quote_was_sought_in(
        archive: Path, served: str, browser) -> None:  # type: ignore[no-untyped-def]
    blake3 = dict(query(archive / "archive.db", "SELECT source_id, blake3 FROM captures"))
    page = browser.new_page()
    shown = {}
    for sid, *_rest in PAGES:
        page.goto(f"{served}/-/archive/{blake3['enc/' + sid]}")
        shown[sid] = page.evaluate("document.querySelector('article p').textContent")
    page.close()
    assert shown == {sid: p[3] for sid, *p in PAGES}
