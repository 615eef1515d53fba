"""The `hyphenation` rule: words split at a line end, in text and in a real PDF; page markers on the site."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from conftest import DEJAVU, khronika, query

from ingest.claims.anchor import anchor, needed_rules


@pytest.mark.parametrize(
    "text, quote, match, start, end, rules",
    [
        ("The vio-\nlation of rights", "violation of rights", "normalized", 4, 25, ("hyphenation",)),
        ("нару-\nшение прав", "нарушение прав", "normalized", 0, 16, ("hyphenation",)),
        ("нару\u00ad\r\nшение прав", "нарушение прав", "normalized", 0, 17, ("hyphenation",)),
        ("the vio\u2010 \n  lation", "violation", "normalized", 4, 18, ("hyphenation",)),
        # A compound broken at its own hyphen: the quote keeps the hyphen, and it is found.
        ("a well-\nknown fact", "well-known fact", "normalized", 2, 18, ("hyphenation",)),
        ("a well-\nknown fact", "wellknown fact", "normalized", 2, 18, ("hyphenation",)),
        # Not at a line end: never joined.
        ("a well-known fact", "wellknown fact", "fuzzy", 2, 17, ()),
        ("the vio- lation", "violation", "fuzzy", 4, 15, ()),
        # Digits are not words split by a hyphen.
        ("from 2010-\n2015", "20102015", "fuzzy", 5, 15, ()),
        # The quote's own hyphen is never dropped.
        ("the violation", "vio-lation", "fuzzy", 4, 13, ()),
    ],
)
def test_line_end_hyphenation(text: str, quote: str, match: str, start: int | None, end: int | None,
                              rules: tuple[str, ...]) -> None:
    a = anchor(text, quote)
    assert (a.match, a.start, a.end) == (match, start, end)
    if a.found:
        assert a.exact == text[start:end]
        assert needed_rules(a.exact, quote, a.rules) == rules


def test_hyphenation_reports_the_page_and_respects_context() -> None:
    text = "first vio-\nlation\fsecond vio-\nlation"
    pages = [{"number": 1, "label": None, "start": 0, "end": 17, "has_text": True},
             {"number": 2, "label": None, "start": 18, "end": 36, "has_text": True}]
    a = anchor(text, "violation", pages=pages)
    assert (a.match, a.candidates) == ("ambiguous", (6, 25))
    b = anchor(text, "violation", prefix="second", pages=pages)
    assert (b.match, b.start, b.end, b.page, b.reason) == (
        "normalized", 25, 36, 2, "found at 25 on page 2 after normalising (hyphenation, whitespace)")


def hyphenated_pdf() -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", DEJAVU))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.setFont("DejaVu", 12)
    c.drawString(72, 720, "The court of appeal found a vio-")
    c.drawString(72, 705, "lation of the right to a fair trial and a well-")
    c.drawString(72, 690, "known pattern of delays.")
    c.showPage()
    c.setFont("DejaVu", 12)
    c.drawString(72, 720, "On the second page the court ordered a new hearing.")
    c.showPage()
    c.save()
    return buf.getvalue()


CASE = """case:
  id: hy
  title: Hyphenation
sources:
  - id: ruling
    path: ruling.pdf
claims:
  - id: violation
    text: The court found a violation
    citations:
      - source: ruling
        quote: "found a violation of the right to a fair trial"
        stance: supports
  - id: pattern
    text: A known pattern of delays
    citations:
      - source: ruling
        quote: "a well-known pattern of delays"
        stance: supports
  - id: hearing
    text: A new hearing was ordered
    citations:
      - source: ruling
        quote: "the court ordered a new hearing"
        stance: supports
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hyphenation")
    (folder / "ruling.pdf").write_bytes(hyphenated_pdf())
    (folder / "hy.yml").write_text(CASE, encoding="utf-8")
    result = khronika("run", str(folder / "hy.yml"), "--archive", str(folder / "archive"))
    assert result.code == 0, result.err
    return folder / "archive"


def test_a_hyphenated_pdf_quote_is_sourced_with_the_rule_recorded(archive: Path) -> None:
    rows = query(archive / "archive.db", "SELECT claim_id, match, rules, found_page, exact FROM citations ORDER BY claim_id")
    assert rows == [
        ("hy/hearing", "exact", "[]", 2, "the court ordered a new hearing"),
        ("hy/pattern", "normalized", '["hyphenation"]', 1, "a well-\nknown pattern of delays"),
        ("hy/violation", "normalized", '["hyphenation"]', 1, "found a vio-\nlation of the right to a fair trial"),
    ]
    assert query(archive / "archive.db", "SELECT id, status FROM claims ORDER BY id") == [
        ("hy/hearing", "sourced"), ("hy/pattern", "sourced"), ("hy/violation", "sourced")]


def test_verify_accepts_the_hyphenated_passages(archive: Path) -> None:
    result = khronika("verify", "--archive", str(archive), "--json")
    assert result.code == 0, result.out
    quotes = [(c["subject"], c["state"]) for c in json.loads(result.out)["checks"] if c["check"] == "quote"]
    assert quotes == [("citation hy/hearing#1", "ok"), ("citation hy/pattern#1", "ok"), ("citation hy/violation#1", "ok")]


@pytest.mark.parametrize("exact, quote, same", [
    ("vio-\nlation", "violation", True),
    ("well-\nknown", "well-known", True),
    ("well-\nknown", "well known", False),
    ("vio- lation", "violation", False),
    ("violation", "vio-lation", False),
])
def test_quotes_equivalent_across_line_end_hyphens(exact: str, quote: str, same: bool) -> None:
    from ingest.claims.anchor import quotes_equivalent

    assert quotes_equivalent(exact, quote) is same


def test_claim_page_and_search_show_page_boundaries_as_markers(archive: Path) -> None:
    from test_web import make_datasette

    ds = make_datasette(archive)
    claim = asyncio.run(ds.client.get("/-/claim/hy/hearing"))
    assert claim.status_code == 200
    html = claim.text
    assert "\f" not in html
    assert ('<div class="passage">The court of appeal found a vio-\nlation of the right to a fair trial and a well-\n'
            'known pattern of delays.\n<span class="page-break">— page 2 —</span>On the second page '
            '<mark>the court ordered a new hearing</mark>.\n</div>') in html
    assert "<dt>Page</dt><dd>2</dd>" in html
    search = asyncio.run(ds.client.get("/-/search?q=hearing"))
    assert "\f" not in search.text
    assert ('<p class="snippet">…ir trial and a well-\nknown pattern of delays.\n<span class="page-break">— page 2 —</span>'
            'On the second page the court ordered a new <mark>hearing</mark>.\n</p>') in search.text
    text = json.loads(query(archive / "archive.db", "SELECT pages FROM extractions")[0][0])
    assert [p["number"] for p in text] == [1, 2]
