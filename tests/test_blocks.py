"""Block boundaries: a quote must not splice words from different paragraphs, headings, list items or cells."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import bagit
import pypdf
import pytest
from conftest import DEJAVU, Site, khronika, query

from ingest.claims.blocks import crossed, gate, runs_for
from ingest.evidence.bagverify import verify_bag
from ingest.text.blocks import html_blocks, line_runs, text_blocks
from ingest.text.extract import extract

FILLER = "<p>" + "The newsroom keeps every statement it publishes on this page for its readers. " * 3 + "</p>"


def page(body: str) -> bytes:
    return f"""<html lang="en"><head><meta charset="utf-8"><title>Report</title></head><body><article>
{FILLER}
{body}
</article></body></html>""".encode()


HEADING = page("""<p>The hearing lasted four hours. Prosecutors said the court</p>
<h2>Opinion</h2>
<p>released nobody, a columnist wrote later that week in the evening edition.</p>""")
PARAGRAPHS = page("""<p>The committee met on Monday and</p>
<p>agreed to release the prisoners before the holiday, its chair said.</p>""")
LIST = page("""<p>The lawyer gave these dates:</p>
<ul><li>Detained on 3 May</li><li>released on 5 May</li></ul>""")
TABLE = page("""<table><tr><th>Name</th><th>Status</th></tr>
<tr><td>Ivanov</td><td>detained</td></tr><tr><td>Petrov</td><td>released</td></tr></table>""")
INLINE = page("""<p>On Friday the court <b>ordered</b> the release of <a href="/people">three students</a>
who had been held since March.</p>""")
WRAPPED = ("The court found that the detainee had been held for three days without access to a lawyer, "
           "which the defence called a plain violation of the procedure set out in the code, and it ordered "
           "an inquiry into the conduct of the officers involved in the arrest.")
SECOND = "A second paragraph follows with its own words so that the gap between them shows."
PLAIN = "First paragraph of the note ends here\n\nand the second begins after a blank line.\n"


def wrapped_pdf() -> bytes:
    """A heading, a paragraph that reportlab wraps over three lines, and a second paragraph."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", DEJAVU))
    styles = getSampleStyleSheet()
    body, head = styles["BodyText"], styles["Heading2"]
    body.fontName = head.fontName = "DejaVu"
    buf = io.BytesIO()
    SimpleDocTemplate(buf, invariant=1).build(
        [Paragraph("Decision of the court", head), Paragraph(WRAPPED, body), Paragraph(SECOND, body)])
    return buf.getvalue()


# -- what the extractors record --------------------------------------------------------------------


def test_html_blocks_follow_trafilaturas_tree_and_leave_the_text_alone() -> None:
    html = page("""<h1>Main title</h1>
<p>Prosecutors said the court</p><h2>Opinion</h2>
<p>released nobody, a <b>bold</b> line with <a href="/x">a link</a>.<br>After a break.</p>
<ul><li>First item</li><li>Second item <ul><li>nested one</li></ul> tail of second</li></ul>
<table><caption>Table caption</caption><tr><th>Head A</th><th>Head B</th></tr>
<tr><td>cell one</td><td>cell | two</td></tr></table>
<blockquote><p>Quoted one.</p><p>Quoted two.</p></blockquote>
<p>He said <q>no more</q> today.</p>""")
    e = extract(html, "text/html; charset=utf-8")
    assert e.text == (
        "The newsroom keeps every statement it publishes on this page for its readers. " * 3).strip() + "\n" + (
        "Main title\nProsecutors said the court\nOpinion\nreleased nobody, a bold line with a link.\nAfter a break.\n"
        "- First item\n- Second item \n  - nested one\ntail of second\n| Table caption |  | \n|---|---|\n"
        "| Head A | Head B | \n|---|---|\n| cell one | cell \\| two | \nQuoted one.\nQuoted two.\n"
        "He said no more\ntoday.")
    assert e.blocks is not None and e.blocks["method"] == "trafilatura-tree/1"
    assert [(name, e.text[s:t]) for s, t, name in e.blocks["blocks"]] == [
        ("paragraph 1", ("The newsroom keeps every statement it publishes on this page for its readers. " * 3).strip()),
        ("heading 1", "Main title"),
        ("paragraph 2", "Prosecutors said the court"),
        ("heading 2", "Opinion"),
        ("paragraph 3", "released nobody, a bold line with a link.\nAfter a break."),
        ("list item 1", "First item"),
        ("list item 2", "Second item"),
        ("list item 3", "nested one"),
        ("list item 2", "tail of second"),
        ("caption 1", "Table caption"),
        ("table cell 1", "Head A"),
        ("table cell 2", "Head B"),
        ("table cell 3", "cell one"),
        ("table cell 4", "cell \\| two"),
        ("paragraph 4", "Quoted one."),
        ("paragraph 5", "Quoted two."),
        ("paragraph 6", "He said no more\ntoday."),  # an inline <q> belongs to its paragraph
    ]


def test_html_tree_that_does_not_fit_the_text_falls_back_to_lines() -> None:
    from lxml import etree

    body = etree.fromstring("<body><p>entirely different words</p></body>")
    assert html_blocks("one line\nanother line", body, set()) == {
        "method": "lines/1", "note": "trafilatura's tree could not be matched onto its text",
        "blocks": [[0, 8, "line 1"], [9, 21, "line 2"]]}


def test_pdf_paragraph_wrapped_over_three_lines_is_one_block() -> None:
    data = wrapped_pdf()
    e = extract(data, "application/pdf")
    plain = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text(
        orientations=(0, 90, 180, 270), space_width=200.0, extraction_mode="plain")
    assert e.text == plain  # watching positions does not change the text
    assert e.text.count("\n") == 5
    assert e.blocks == {"method": "pypdf-positions/1", "blocks": [
        [0, 21, "page 1, paragraph 1"], [22, 276, "page 1, paragraph 2"], [277, 358, "page 1, paragraph 3"]]}
    assert e.text[22:276] == ("The court found that the detainee had been held for three days without access to a\n"
                              "lawyer, which the defence called a plain violation of the procedure set out in the code,\n"
                              "and it ordered an inquiry into the conduct of the officers involved in the arrest.")


def test_plain_text_paragraphs_are_separated_by_blank_lines() -> None:
    assert text_blocks("one\ntwo\n\n  \nthree\r\n\r\nfour") == {"method": "blank-lines/1", "blocks": [
        [0, 7, "paragraph 1"], [12, 17, "paragraph 2"], [21, 25, "paragraph 3"]]}
    e = extract(PLAIN.encode(), "text/plain")
    assert e.text == PLAIN and e.blocks == text_blocks(PLAIN)


def test_lines_and_crossing() -> None:
    runs = line_runs(" a b \n\n c\n")
    assert runs == [[1, 4, "line 1"], [8, 9, "line 2"]]
    assert crossed(runs, 1, 4) == [] and crossed(runs, 2, 9) == ["line 1", "line 2"]
    assert crossed(runs, 4, 8) == []  # only the space between them
    # an extraction recorded before blocks were kept
    assert runs_for({"blocks": None, "text": "x\n\ny", "extractor": "text"}) == (
        [[0, 1, "paragraph 1"], [3, 4, "paragraph 2"]], "blank-lines/1")
    assert runs_for({"blocks": None, "text": "x\ny", "extractor": "trafilatura"}) == (
        [[0, 1, "line 1"], [2, 3, "line 2"]], "lines/1 (no blocks recorded)")


def test_gate_measures_the_row_against_the_blocks() -> None:
    runs = [[0, 10, "paragraph 1"], [11, 20, "heading 1"], [21, 40, "paragraph 2"]]
    row = {"start": 5, "end": 25, "crossed": None, "spans": None}
    assert gate(row, runs) == (False, "the passage at [5, 25) joins words from 3 blocks "
                                      "(paragraph 1 → heading 1 → paragraph 2); the citation accepts no span")
    assert gate({**row, "spans": 2}, runs)[1].endswith("the citation accepts spans: 2")
    names = json.dumps(["paragraph 1", "heading 1", "paragraph 2"])
    assert gate({**row, "spans": 3, "crossed": names}, runs) == (
        True, "joins 3 blocks, accepted by the case file (spans: 3): paragraph 1 → heading 1 → paragraph 2")
    assert gate({**row, "start": 21, "crossed": names, "spans": 3}, runs) == (
        False, "recorded as joining paragraph 1 → heading 1 → paragraph 2, but the passage at [21, 25) lies in one block")


# -- anchoring, status, verify -------------------------------------------------------------------


SPLICE = "Prosecutors said the court Opinion released nobody"


def write_case(folder: Path, site: Site) -> Path:
    for name, body in (("heading", HEADING), ("paragraphs", PARAGRAPHS), ("list", LIST), ("table", TABLE),
                       ("inline", INLINE)):
        site.set(f"/{name}", body, Content_Type="text/html; charset=utf-8")
    site.set("/decision.pdf", wrapped_pdf(), Content_Type="application/pdf")
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "note.txt").write_text(PLAIN, encoding="utf-8")
    sources = "".join(f"  - id: {n}\n    url: {site.url('/' + n)}\n"
                      for n in ("heading", "paragraphs", "list", "table", "inline"))
    case = folder / "b.yml"
    case.write_text(f"""case:
  id: b
  title: Blocks
sources:
{sources}  - id: decision
    url: {site.url('/decision.pdf')}
  - id: note
    path: docs/note.txt
claims:
  - id: spliced-heading
    text: Prosecutors said the court released nobody.
    citations:
      - source: heading
        quote: "{SPLICE}"
        stance: supports
  - id: without-heading
    text: Prosecutors said the court released nobody.
    citations:
      - source: heading
        quote: "Prosecutors said the court released nobody"
        stance: supports
  - id: accepted-span
    text: The page runs the prosecutors' words into a columnist's.
    citations:
      - source: heading
        quote: "{SPLICE}"
        stance: supports
        spans: 3
  - id: wrong-span
    text: The page runs the prosecutors' words into a columnist's.
    citations:
      - source: heading
        quote: "{SPLICE}"
        stance: supports
        spans: 2
  - id: paragraphs
    text: The committee agreed to release the prisoners.
    citations:
      - source: paragraphs
        quote: "met on Monday and agreed to release the prisoners"
        stance: supports
  - id: list-items
    text: Detained on 3 May, released on 5 May.
    citations:
      - source: list
        quote: "Detained on 3 May - released on 5 May"
        stance: supports
  - id: table-cells
    text: Ivanov was detained.
    citations:
      - source: table
        quote: "Ivanov | detained"
        stance: supports
  - id: inline-markup
    text: The court ordered three students released.
    citations:
      - source: inline
        quote: "the court ordered the release of three students who had been held"
        stance: supports
  - id: pdf-wrapped
    text: The court ordered an inquiry.
    citations:
      - source: decision
        quote: "{WRAPPED}"
        stance: supports
  - id: pdf-paragraphs
    text: The court ordered an inquiry.
    citations:
      - source: decision
        quote: "involved in the arrest. A second paragraph follows"
        stance: supports
  - id: plain-paragraphs
    text: The note runs on.
    citations:
      - source: note
        quote: "ends here and the second begins"
        stance: supports
      - source: note
        quote: "the second begins after a blank line"
        stance: supports
""", encoding="utf-8")
    return case


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    site = Site()
    folder = tmp_path_factory.mktemp("blocks")
    case = write_case(folder / "case", site)
    archive = folder / "archive"
    ran = khronika("run", str(case), "--archive", str(archive))
    assert ran.code == 0, ran.err
    assert ran.err.splitlines()[-1] == ("7 new capture(s), 0 unchanged, 0 kept without fetching, 0 failed, 0 wanted. "
                                        "Claims: 1 partly_sourced, 3 sourced, 7 unsourced.")
    yield case, archive
    site.close()


HEADING_PATH = "paragraph 2 → heading 1 → paragraph 3"

# claim -> (match per citation, blocks joined per citation, claim status)
EXPECTED = {
    "spliced-heading": ([("spans_blocks", HEADING_PATH)], "unsourced"),
    "without-heading": ([("fuzzy", None)], "unsourced"),
    "accepted-span": ([("normalized", HEADING_PATH)], "sourced"),
    "wrong-span": ([("spans_blocks", HEADING_PATH)], "unsourced"),
    "paragraphs": ([("spans_blocks", "paragraph 2 → paragraph 3")], "unsourced"),
    "list-items": ([("spans_blocks", "list item 1 → list item 2")], "unsourced"),
    "table-cells": ([("spans_blocks", "table cell 3 → table cell 4")], "unsourced"),
    "inline-markup": ([("exact", None)], "sourced"),
    "pdf-wrapped": ([("normalized", None)], "sourced"),
    "pdf-paragraphs": ([("spans_blocks", "page 1, paragraph 2 → page 1, paragraph 3")], "unsourced"),
    "plain-paragraphs": ([("spans_blocks", "paragraph 1 → paragraph 2"), ("exact", None)], "partly_sourced"),
}


def _citations(archive: Path, claim: str) -> list[tuple[str, str | None]]:
    rows = query(archive / "archive.db", "SELECT match, crossed FROM citations WHERE claim_id = ? ORDER BY n", (f"b/{claim}",))
    return [(m, " → ".join(json.loads(c)) if c else None) for m, c in rows]


@pytest.mark.parametrize("claim", list(EXPECTED))
def test_match_kind_blocks_and_status(built: tuple[Path, Path], claim: str) -> None:
    _, archive = built
    cites, status = EXPECTED[claim]
    assert _citations(archive, claim) == cites
    assert query(archive / "archive.db", "SELECT status FROM claims WHERE id = ?", (f"b/{claim}",)) == [(status,)]


def test_reasons_name_the_blocks(built: tuple[Path, Path]) -> None:
    _, archive = built
    rows = dict(query(archive / "archive.db", "SELECT claim_id, reason FROM citations WHERE n = 1"))
    text, start = query(archive / "archive.db", "SELECT e.text, ci.start FROM citations ci JOIN extractions e "
                        "ON e.id = ci.extraction_id WHERE ci.id = 'b/spliced-heading#1'")[0]
    assert text[start:].startswith("Prosecutors said the court\nOpinion\nreleased nobody,")
    assert rows["b/spliced-heading"] == (
        f"the only match (normalized, at {start}) joins words from 3 blocks: {HEADING_PATH}; "
        "if the quote deliberately joins them, give spans: 3")
    assert rows["b/wrong-span"] == (
        f"the only match (normalized, at {start}) joins words from 3 blocks: {HEADING_PATH}; "
        "the citation accepts spans: 2")
    assert rows["b/accepted-span"] == (
        f"found at {start} after normalising (case, whitespace); it joins 3 blocks ({HEADING_PATH}), "
        "as the citation accepts (spans: 3)")
    status = query(archive / "archive.db", "SELECT status_reason FROM claims WHERE id = 'b/accepted-span'")
    assert status == [("all 1 supporting quote(s) present in archived captures; citation 1 joins 3 blocks, "
                       f"accepted by the case file (spans: 3): {HEADING_PATH}",)]


def test_verify_applies_the_same_rule(built: tuple[Path, Path]) -> None:
    _, archive = built
    r = khronika("verify", "--archive", str(archive), "--json")
    assert r.code == 1, r.err
    quotes = {c["subject"]: (c["state"], c["detail"]) for c in json.loads(r.out)["checks"] if c["check"] == "quote"}
    reason = dict(query(archive / "archive.db", "SELECT id, reason FROM citations"))
    start, end, b3 = query(archive / "archive.db",
                           "SELECT start, \"end\", blake3 FROM citations WHERE id = 'b/accepted-span#1'")[0]
    assert quotes["citation b/accepted-span#1"] == (
        "ok", f"quote present (normalized) at [{start}, {end}) of capture {b3[:16]}, joins 3 blocks, "
              f"accepted by the case file (spans: 3): {HEADING_PATH}")
    assert quotes["citation b/spliced-heading#1"] == (
        "mismatch", f"quote not anchored (spans_blocks): {reason['b/spliced-heading#1']}")
    assert quotes["citation b/without-heading#1"][0] == "missing"
    assert quotes["citation b/pdf-wrapped#1"][0] == "ok"
    assert quotes["citation b/inline-markup#1"][0] == "ok"


def test_an_edited_citation_row_does_not_slip_a_splice_past_verify(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, archive = built
    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    conn = sqlite3.connect(copy / "archive.db")
    with conn:
        conn.execute("UPDATE citations SET match = 'normalized', crossed = NULL, reason = 'found' "
                     "WHERE id = 'b/spliced-heading#1'")
    conn.close()
    start, end = query(copy / "archive.db", "SELECT start, \"end\" FROM citations WHERE id = 'b/spliced-heading#1'")[0]
    r = khronika("verify", "--archive", str(copy), "--json")
    checks = json.loads(r.out)["checks"]
    assert r.code == 1
    quote = [c for c in checks if c["subject"] == "citation b/spliced-heading#1"]
    assert quote == [{"check": "quote", "subject": "citation b/spliced-heading#1", "state": "mismatch", "detail": (
        f"the passage at [{start}, {end}) joins words from 3 blocks ({HEADING_PATH}); the citation accepts no span")}]
    row = [c for c in checks if c["subject"] == "citations row b/spliced-heading#1"]
    assert row[0]["state"] == "mismatch" and row[0]["detail"].endswith("in: crossed, match, reason")
    # and the claim does not become sourced on the strength of the edited row
    assert query(copy / "archive.db", "SELECT status FROM claims WHERE id = 'b/spliced-heading'") == [("unsourced",)]


def test_an_edited_citation_row_in_a_bag_is_caught_by_verify_bag(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, archive = built
    out = khronika("export", "b", "--archive", str(archive), "--out", str(tmp_path / "bag"))
    assert out.code == 0, out.err
    bag = tmp_path / "bag"
    clean = verify_bag(bag)
    ok = {c.subject: (c.state, c.detail) for c in clean.checks if c.check == "quote"}
    assert ok["citation b/accepted-span#1"][0] == "ok"
    assert ok["citation b/accepted-span#1"][1].endswith(
        f", joins 3 blocks, accepted by the case file (spans: 3): {HEADING_PATH}")
    assert ok["citation b/spliced-heading#1"][0] == "mismatch"
    report_html = (bag / "data" / "report.html").read_text("utf-8")
    assert report_html.count(f'<p class="joined">This passage joins 3 blocks, accepted by the case file (spans: 3): '
                             f'{HEADING_PATH}.</p>') == 1
    assert report_html.count(f'<p class="joined">This passage joins 3 blocks, not accepted: does not count as found: '
                             f'{HEADING_PATH}.</p>') == 2  # spliced-heading and wrong-span
    assert report_html.count('<mark>Prosecutors said the court</mark><span class="boundary">paragraph 2 ends · heading 1 '
                             'begins</span>\n<mark>Opinion</mark><span class="boundary">heading 1 ends · paragraph 3 '
                             'begins</span>\n<mark>released nobody</mark>') == 3
    conn = sqlite3.connect(bag / "data" / "archive.db")
    with conn:
        conn.execute("UPDATE citations SET match = 'exact', crossed = NULL WHERE id = 'b/spliced-heading#1'")
    start, end = conn.execute("SELECT start, \"end\" FROM citations WHERE id = 'b/spliced-heading#1'").fetchone()
    conn.close()
    bagit.Bag(str(bag)).save(manifests=True)
    report = verify_bag(bag)
    quote = [(c.state, c.detail) for c in report.checks if c.subject == "citation b/spliced-heading#1"]
    assert quote == [("mismatch", f"the passage at [{start}, {end}) joins words from 3 blocks ({HEADING_PATH}); "
                                  "the citation accepts no span")]
    assert report.exit_code() == 1


@pytest.mark.parametrize("spans, error", [
    ("1", 'claims.0.citations.0.spans: "1" is not a number of blocks the quote may join (2 to 1000)'),
    ("two", 'claims.0.citations.0.spans: "two" is not a number of blocks the quote may join (2 to 1000)'),
    ("1001", 'claims.0.citations.0.spans: "1001" is not a number of blocks the quote may join (2 to 1000)'),
])
def test_spans_is_validated(tmp_path: Path, spans: str, error: str) -> None:
    from ingest.claims.cases import load_case
    from ingest.errors import CaseFileErrors

    case = tmp_path / "c.yml"
    case.write_text(f"""case: {{id: c, title: C}}
sources:
  - id: s
    url: https://example.org/a
claims:
  - id: x
    text: X
    citations:
      - source: s
        quote: a b
        stance: supports
        spans: {spans}
""", encoding="utf-8")
    with pytest.raises(CaseFileErrors) as err:
        load_case(case, "c.yml")
    assert [str(e) for e in err.value.errors] == [f"c.yml:12: {error}"]


def test_columns_added_later_are_left_out_of_old_log_rows_while_null(tmp_path: Path) -> None:
    from ingest.store.db import logged_row, open_db

    old = {"id": 1, "blake3": "b"}
    assert logged_row("extractions", {"id": 1, "blake3": "b", "text": "t", "blocks": None}, old) == old
    assert logged_row("extractions", {"id": 1, "blake3": "b", "text": "t", "blocks": "{}"}, old) == {
        "id": 1, "blake3": "b", "blocks": "{}"}  # filled in behind the log's back: it shows
    conn = sqlite3.connect(tmp_path / "archive.db")
    conn.execute("CREATE TABLE extractions (id INTEGER PRIMARY KEY, blake3 TEXT)")
    conn.close()
    db = open_db(tmp_path / "archive.db")
    assert "blocks" in db["extractions"].columns_dict


def test_spans_is_read(tmp_path: Path) -> None:
    from ingest.claims.cases import load_case

    case = tmp_path / "c.yml"
    case.write_text("""case: {id: c, title: C}
sources:
  - id: s
    url: https://example.org/a
claims:
  - id: x
    text: X
    citations:
      - {source: s, quote: a b, stance: supports, spans: 2}
""", encoding="utf-8")
    assert load_case(case).claims[0].citations[0].spans == 2


# -- the claim page, in real headless Chromium -------------------------------------------------------


@pytest.mark.slow
def test_claim_page_draws_the_boundaries(built: tuple[Path, Path], tmp_path: Path) -> None:
    from conftest import start_serve, stop_serve

    from ingest.capture.chromium import launched

    _, archive = built
    proc, base = start_serve(archive, tmp_path / "serve.log")
    try:
        with launched() as (browser, _):
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(base + "/-/claim/b/spliced-heading")
            passage = page.locator(".citation .passage")
            assert passage.get_attribute("class") == "passage spliced"
            marks = passage.locator("mark")
            assert [marks.nth(i).get_attribute("data-block") for i in range(marks.count())] == [
                "paragraph 2", "heading 1", "paragraph 3"]
            assert marks.all_inner_texts() == ["Prosecutors said the court", "Opinion", "released nobody"]
            assert passage.locator(".boundary-label").all_inner_texts() == [
                "paragraph 2 ends · heading 1 begins", "heading 1 ends · paragraph 3 begins"]
            assert page.locator(".citation .proves").count() == 0
            start = query(archive / "archive.db", "SELECT start FROM citations WHERE id = 'b/spliced-heading#1'")[0][0]
            assert page.locator(".citation .problem").all_inner_texts() == [
                "The quote joins words the source keeps in different blocks, so it does not count as found: "
                f"the only match (normalized, at {start}) joins words from 3 blocks: {HEADING_PATH}; "
                "if the quote deliberately joins them, give spans: 3"]
            assert page.locator(".match").inner_text() == "spans_blocks"
            assert page.locator(".status").inner_text() == "unsourced"
            page.screenshot(path=str(tmp_path / "spliced.png"), full_page=True)

            page.goto(base + "/-/claim/b/accepted-span")
            assert page.locator(".citation .joined").inner_text() == (
                f"This passage joins 3 blocks, accepted by the case file (spans: 3): {HEADING_PATH}.")
            assert page.locator(".citation .passage mark").count() == 3
            assert page.locator(".citation .proves").count() == 1
            assert page.locator(".status").inner_text() == "sourced"

            page.goto(base + "/-/claim/b/inline-markup")
            assert page.locator(".citation .passage mark").all_inner_texts() == [
                "the court ordered the release of three students who had been held"]
            assert page.locator(".citation .passage .boundary").count() == 0
            browser.close()
    finally:
        stop_serve(proc)


def test_an_archive_from_before_blocks_is_brought_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An archive whose HTML extraction has no blocks and whose spliced quote was anchored
    `normalized`, as before blocks were kept: verify refuses the passage, and the next run
    extracts the page again and anchors the quote as spans_blocks."""
    import dataclasses

    from ingest.claims import status as status_mod
    from ingest.claims.cases import load_case
    from ingest.pipeline import RunOptions, Runner
    from ingest.store.archive import Archive

    (tmp_path / "heading.html").write_bytes(HEADING)
    case_file = tmp_path / "old.yml"
    case_file.write_text(f"""case: {{id: old, title: Old}}
sources:
  - id: heading
    path: heading.html
claims:
  - id: spliced
    text: Prosecutors said the court released nobody.
    citations:
      - source: heading
        quote: "{SPLICE}"
        stance: supports
""", encoding="utf-8")
    archive = tmp_path / "archive"
    case = load_case(case_file)
    with Archive.open(archive, create=True) as a:
        runner = Runner(a, RunOptions())
        [b3] = list(runner.run_case(case))
        before = dataclasses.replace(extract(a.store.path(b3).read_bytes(), "text/html"), blocks=None)
        with a.batch():
            runner._record_extraction(b3, before)
        with monkeypatch.context() as m:  # anchoring as it was: no blocks to keep to
            m.setattr(status_mod, "runs_for", lambda extraction: ([], "none"))
            with a.batch():
                status_mod.record_claims(a, case)
        runner.finish()
    db = archive / "archive.db"
    assert query(db, "SELECT match, crossed, extraction_id FROM citations") == [("normalized", None, 1)]
    start, end = query(db, "SELECT start, \"end\" FROM citations")[0]

    r = khronika("verify", "--archive", str(archive), "--json")
    checks = json.loads(r.out)["checks"]
    assert [(c["state"], c["detail"]) for c in checks if c["check"] == "quote"] == [(
        "mismatch", f"the passage at [{start}, {end}) joins words from 3 blocks (line 2 → line 3 → line 4); "
                    "the citation accepts no span (extraction 1 has no recorded blocks: lines/1 (no blocks recorded))")]
    assert [c["state"] for c in checks if c["check"] == "log"] == ["ok", "ok"]
    assert query(db, "SELECT status FROM claims") == [("unsourced",)]

    ran = khronika("run", str(case_file), "--archive", str(archive))
    assert ran.code == 0, ran.err
    assert query(db, "SELECT id, text_blake3 = ?, blocks IS NOT NULL FROM extractions ORDER BY id",
                 (before.text_blake3,)) == [(1, 1, 0), (2, 1, 1)]
    assert query(db, "SELECT match, crossed, extraction_id, start FROM citations") == [
        ("spans_blocks", json.dumps(HEADING_PATH.split(" → "), ensure_ascii=False), 2, start)]
    assert query(db, "SELECT status FROM claims") == [("unsourced",)]
    head = ran.out
    again = khronika("run", str(case_file), "--archive", str(archive))
    assert again.out == head  # nothing more to extract or anchor


TEXT3 = "alpha beta\ngamma delta\nbeta gamma here"
RUNS3 = [[0, 10, "paragraph 1"], [11, 22, "paragraph 2"], [23, 38, "paragraph 3"]]


@pytest.mark.parametrize("quote, options, match, start, crossed_, reason", [
    # a match inside one block wins over an earlier one that joins blocks, even an exact one
    ("beta gamma", {}, "exact", 23, (), "found exactly at 23"),
    ("beta\ngamma", {}, "normalized", 23, (), "found at 23 after normalising (whitespace)"),
    ("beta gamma", {"accept": 2}, "exact", 23, (),
     "found exactly at 23; the citation gives spans: 2, but the passage lies in one block"),
    ("delta beta", {}, "spans_blocks", 17, ("paragraph 2", "paragraph 3"),
     "the only match (normalized, at 17) joins words from 2 blocks: paragraph 2 → paragraph 3; "
     "if the quote deliberately joins them, give spans: 2"),
    ("delta beta", {"accept": 2}, "normalized", 17, ("paragraph 2", "paragraph 3"),
     "found at 17 after normalising (whitespace); it joins 2 blocks (paragraph 2 → paragraph 3), "
     "as the citation accepts (spans: 2)"),
    ("delta beta", {"accept": 3}, "spans_blocks", 17, ("paragraph 2", "paragraph 3"),
     "the only match (normalized, at 17) joins words from 2 blocks: paragraph 2 → paragraph 3; "
     "the citation accepts spans: 3"),
    ("beta gamma", {"prefix": "alpha "}, "spans_blocks", 6, ("paragraph 1", "paragraph 2"),
     "the match the given prefix/suffix picks (normalized, at 6) joins words from 2 blocks: "
     "paragraph 1 → paragraph 2; if the quote deliberately joins them, give spans: 2"),
    ("delta beta", {"prefix": "nowhere"}, "spans_blocks", 17, ("paragraph 2", "paragraph 3"),
     "the only match (the given prefix/suffix fits none) (normalized, at 17) joins words from 2 blocks: "
     "paragraph 2 → paragraph 3; if the quote deliberately joins them, give spans: 2"),
    ("gamma", {}, "ambiguous", None, (), "quote occurs 2 times; add prefix: to pick one"),
])
def test_anchor_keeps_to_blocks(quote: str, options: dict, match: str, start: int | None,
                                crossed_: tuple[str, ...], reason: str) -> None:
    from ingest.claims.anchor import anchor

    a = anchor(TEXT3, quote, blocks=RUNS3, **options)
    assert (a.match, a.start, a.crossed, a.reason) == (match, start, crossed_, reason)
    assert a.found == (match in ("exact", "normalized"))
    assert anchor(TEXT3, quote).crossed == ()  # without blocks, nothing is judged
