"""The evidence report's wording for incomplete case data: a date without a note, a source without a title."""

from __future__ import annotations

from ingest.evidence.report import render
from ingest.evidence.rows import CaseRows
from ingest.store.log import Head


def _rows(date: str | None, date_note: str | None, title: str | None) -> CaseRows:
    case = {"id": "c", "title": "A case", "description": "d", "case_file": "c.yml", "case_file_blake3": "ab"}
    claim = {"id": 1, "slug": "k", "withdrawn": 0, "text": "T.", "date": date, "date_note": date_note,
             "people": "[]", "type": "detention", "status": "unsourced", "status_reason": "r"}
    citation = {"id": 7, "claim_id": 1, "n": 1, "source_id": "s1", "stance": "supports", "extraction_id": None,
                "capture_id": None, "start": None, "end": None, "crossed": None, "quote": "q", "match": "none",
                "reason": "wanted source"}
    source = {"id": "s1", "title": title, "wanted": 1}
    return CaseRows(case, {"files": [], "captures": [], "extractions": [], "sources": [source],
                           "claims": [claim], "citations": [citation]})


def _page(rows: CaseRows) -> list[str]:
    return render(rows, None, [], Head(3, "0" * 64), {}, []).split("\n")


def test_date_without_note_is_just_the_date() -> None:
    page = _page(_rows("2019-11-19", None, "T"))
    assert "<p>Date: 2019-11-19. Type: detention. People: none named. Status at export: unsourced (r).</p>" in page
    assert "(None)" not in "\n".join(page)


def test_date_with_note_and_no_date() -> None:
    assert ("<p>Date: 2019-11 (inferred). Type: detention. People: none named. Status at export: unsourced (r).</p>"
            in _page(_rows("2019-11", "inferred", "T")))
    assert ("<p>Date: no date. Type: detention. People: none named. Status at export: unsourced (r).</p>"
            in _page(_rows(None, None, "T")))


def test_source_without_title_is_named_by_its_id() -> None:
    page = _page(_rows(None, None, None))
    assert "<h4>Citation 1 <code>7</code>: supports, s1</h4>" in page
    assert ("<tr><td>untitled<br><code>s1</code></td><td colspan=\"3\">wanted: address not yet known</td></tr>"
            in page)


def test_source_with_title_is_named_by_title() -> None:
    assert "<h4>Citation 1 <code>7</code>: supports, A &#x27;report&#x27;</h4>" in _page(_rows(None, None, "A 'report'"))
