"""OCR of scans with the real Tesseract: a PNG and PDFs the tests render from known sentences."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import DEJAVU, khronika, query

from ingest.capture.media import sniff_media_type
from ingest.text import ocr
from ingest.text.extract import extract
from ingest.text.extraction import EXTRACTORS, PageSpan
from ingest.text.workers import TEST_HOG_TYPE, Job, WorkerLimits, run_jobs

pytestmark = pytest.mark.slow

RU = "Суд признал задержание Ивана Петрова незаконным."
EN = "The court found the arrest of Ivan Petrov unlawful."
COVER = "A typed cover letter from the defence."
DECISION = "452a4eaa09fd10d996842c6437056e3b6fb20db35b250169f693a506e7c4312d"
PHOTO = "a1f8419cead13ee4d05427e89f3a3ec800e652cba0a5f69f0f6881a35b1da0b4"
LETTER = "d8d9ac601771a6ef4bd2261cef6ca694543e4f8a9b5f0baf00737f6d77643548"
INSTALL = "on Debian: apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng"


def scan(lines: list[str]) -> Any:
    """A page image as a scanner would give it: black text on white, no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(DEJAVU, 34)
    image = Image.new("L", (1500, 80 + 70 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((50, 40 + 70 * i), line, font=font, fill=0)
    return image


def png(lines: list[str]) -> bytes:
    buf = io.BytesIO()
    scan(lines).save(buf, format="PNG")
    return buf.getvalue()


def scanned_pdf(pages: list[str | list[str]]) -> bytes:
    """A small PDF (360 x 200 pt pages): a string is a page with a text layer, a list a scanned page."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", DEJAVU))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1, pagesize=(360, 200))
    for page in pages:
        if isinstance(page, str):
            c.setFont("DejaVu", 10)
            c.drawString(20, 150, page)
        else:
            image = scan(page)
            height = 360 * image.height / image.width
            c.drawImage(ImageReader(image), 0, 200 - height, width=360, height=height)
        c.showPage()
    c.save()
    return buf.getvalue()


CASE = """case:
  id: scans
  title: "Scanned court papers"
sources:
  - id: decision
    path: docs/decision.pdf
    kind: court-document
  - id: photo
    path: docs/photo.png
  - id: letter
    path: docs/letter.pdf
claims:
  - id: unlawful
    text: "The court found the detention unlawful."
    citations:
      - source: decision
        quote: "Суд признал задержание Ивана Петрова незаконным."
        stance: supports
      - source: photo
        quote: "the court found the arrest"
        stance: supports
  - id: scanned-page
    text: "The second page of the letter is a scan."
    citations:
      - source: letter
        quote: "found the arrest of"
        stance: supports
  - id: misread
    text: "A name the OCR misread."
    citations:
      - source: photo
        quote: "the arrest of Ivan Petrov unlawful"
        stance: supports
"""


def write_case(folder: Path) -> Path:
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "decision.pdf").write_bytes(scanned_pdf([[RU, EN]]))
    (docs / "photo.png").write_bytes(png([RU, EN]))
    (docs / "letter.pdf").write_bytes(scanned_pdf([COVER, [EN]]))
    path = folder / "scans.yml"
    path.write_text(CASE, encoding="utf-8")
    return path


def citations(db: Path) -> list[tuple]:
    return query(db, "SELECT id, match, ocr, start, end, found_page, exact, reason FROM citations ORDER BY id")


def claims(db: Path) -> list[tuple]:
    return query(db, "SELECT id, status, status_reason FROM claims ORDER BY id")


# -- the reader ----------------------------------------------------------------------------------


def test_a_png_scan_is_read_by_tesseract_with_every_option_recorded() -> None:
    e = extract(png([RU, EN]), "image/png")
    info = ocr.tesseract_info()
    assert (e.error, e.extractor, e.extractor_version) == (None, "tesseract", info["version"])
    assert e.text == f"{RU}\n\nThe court found the arrest of Мап Petrov unlawful."
    assert e.pages == [PageSpan(1, None, 0, 100, True)]
    assert e.has_text_layer is False
    assert e.metadata == {"ocr_pages": [1], "page_results": [
        {"page": 1, "words": 15, "mean_confidence": 93.5, "dpi": 302}]}
    assert e.options == {
        "languages": "rus+eng", "psm": 3, "oem": "default (LSTM)", "leptonica": info["leptonica"],
        "language_data": info["language_data"], "page_separator": "\f", "omp_thread_limit": 1,
        "dpi": "the image's own, else estimated by Tesseract", "rasteriser": None,
    }
    assert sorted(info["language_data"]) == ["eng", "rus"]


def test_a_scanned_pdf_is_rasterised_by_pdftoppm_and_only_pages_without_text_are_read() -> None:
    data = scanned_pdf([COVER, [EN]])
    layer = extract(data, "application/pdf")
    assert (layer.extractor, layer.text, layer.metadata["text_layer"], layer.metadata["pages_without_text"]) == (
        "pypdf", f"{COVER}\n\f", "partial", [2])
    e = extract(data, "application/pdf", ocr_pages=True)
    assert (e.error, e.extractor, e.text) == (None, "tesseract", "\fThe court found the arrest of lvan Petrov unlawful.")
    assert e.pages == [PageSpan(1, None, 0, 0, False), PageSpan(2, None, 1, 52, True)]
    assert e.metadata == {"ocr_pages": [2], "page_results": [{"page": 2, "dpi": 300, "words": 9, "mean_confidence": 93.3}]}
    assert (e.options["dpi"], e.options["rasteriser"], e.options["colour"]) == (300, ocr.pdftoppm_version(), "gray")
    assert ocr.pdftoppm_version().startswith("pdftoppm ")
    again = extract(data, "application/pdf", ocr_pages=True)
    assert again.text_blake3 == e.text_blake3  # one thread, same tools: the same text every time


@pytest.mark.parametrize("magic, media", [(b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff")])
def test_tiff_scans_are_sniffed_whatever_they_are_called(magic: bytes, media: str) -> None:
    assert sniff_media_type(magic + b"\x00" * 16, "application/octet-stream") == media


def test_every_page_of_a_multi_page_tiff_is_read() -> None:
    buf = io.BytesIO()
    scan([RU]).save(buf, format="TIFF", save_all=True, append_images=[scan(["Second page of the decision."])])
    e = extract(buf.getvalue(), "image/tiff")
    assert (e.error, e.text) == (None, f"{RU}\fSecond page of the decision.")
    assert [(p.number, p.has_text) for p in e.pages or []] == [(1, True), (2, True)]


def test_an_image_tesseract_cannot_read_is_a_failure_with_its_message() -> None:
    e = extract(b"\x89PNG\r\n\x1a\nnot really", "image/png")
    assert (e.extractor, e.text, e.error) == (
        "tesseract", None, "OCR failed: tesseract exited with status 1: Error during processing.")


def test_a_killed_ocr_job_takes_the_tools_it_started_with_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KHRONIKA_TEST_HOOKS", "1")
    path = tmp_path / "child.hog"
    path.write_text("child")
    [(_, e)] = run_jobs([Job("child", str(path), TEST_HOG_TYPE, None)], limits=WorkerLimits(wall_seconds=1))
    assert e.error == "timed out after 1 s"
    pid = int((tmp_path / "child.hog.pid").read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()  # the tool died with the worker's process group


def test_a_pdf_ocr_job_runs_in_the_sandboxed_workers(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(scanned_pdf([[EN], [RU]]))
    [(_, e)] = run_jobs([Job("doc", str(path), "application/pdf", None, ocr_pages=True, pages=2)])
    assert (e.extractor, e.error, e.text) == (
        "tesseract", None, "The court found the arrest of lvan Petrov unlawful.\f" + RU)


# -- a run, end to end ---------------------------------------------------------------------------


def test_quotes_found_only_in_ocr_text_are_flagged_and_count_as_found(tmp_path: Path) -> None:
    case = write_case(tmp_path)
    r = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert r.code == 0, r.err
    assert "extraction failed" not in r.err and "Traceback" not in r.err
    db = tmp_path / "archive" / "archive.db"
    assert citations(db) == [
        ("scans/misread#1", "fuzzy", 1, 66, 99, 1, "the arrest of Мап Petrov unlawful",
         "in the OCR text: not found; closest passage at 66 on page 1 differs by 4 edits (score 0.88)"),
        ("scans/scanned-page#1", "exact", 1, 11, 30, 2, "found the arrest of", "found exactly at 11 on page 2"),
        ("scans/unlawful#1", "exact", 1, 0, 48, 1, RU, "found exactly at 0 on page 1"),
        ("scans/unlawful#2", "normalized", 1, 50, 76, 1, "The court found the arrest",
         "found at 50 on page 1 after normalising (case)"),
    ]
    assert claims(db) == [
        ("scans/misread", "unsourced", "no supporting quote present; citation 1 (scans/photo): in the OCR text: "
         "not found; closest passage at 66 on page 1 differs by 4 edits (score 0.88)"),
        ("scans/scanned-page", "sourced", "all 1 supporting quote(s) present in archived captures "
         "(citation 1 found in OCR text: compare with the page image)"),
        ("scans/unlawful", "sourced", "all 2 supporting quote(s) present in archived captures "
         "(citations 1, 2 found in OCR text: compare with the page image)"),
    ]
    tess, pypdf = ocr.tesseract_version(), EXTRACTORS["pypdf"]
    assert query(db, "SELECT blake3, extractor, extractor_version, text_length, error FROM extractions ORDER BY id") == [
        (DECISION, "pypdf", pypdf, 0, None),
        (PHOTO, "tesseract", tess, 100, None),
        (LETTER, "pypdf", pypdf, 40, None),
        (DECISION, "tesseract", tess, 101, None),
        (LETTER, "tesseract", tess, 52, None),
    ]
    before = query(db, "SELECT count(*) FROM log")
    again = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert again.code == 0, again.err
    assert query(db, "SELECT count(*) FROM log") == before  # nothing is OCR'd twice


def test_with_ocr_disabled_scans_are_unverifiable_not_missing_until_a_run_ocrs_them(tmp_path: Path) -> None:
    case = write_case(tmp_path)
    r = khronika("run", str(case), "--archive", str(tmp_path / "archive"), "--no-ocr")
    assert r.code == 0, r.err
    notes = [line for line in r.err.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: {b[:12]}: not OCR'd (--no-ocr): quotes only its page images hold are unverifiable"
                     for b in (PHOTO, DECISION, LETTER)]
    db = tmp_path / "archive" / "archive.db"
    off = "OCR is disabled (run --no-ocr)"
    assert citations(db) == [
        ("scans/misread#1", "unverifiable", 0, None, None, None, None, f"capture {PHOTO[:12]} is an image and {off}"),
        ("scans/scanned-page#1", "unverifiable", 0, None, None, None, None,
         f"not in the text layer (not found, even approximately); page 2 has no text layer and {off}"),
        ("scans/unlawful#1", "unverifiable", 0, None, None, None, None,
         f"capture {DECISION[:12]} is a PDF without a text layer and {off}"),
        ("scans/unlawful#2", "unverifiable", 0, None, None, None, None, f"capture {PHOTO[:12]} is an image and {off}"),
    ]
    assert claims(db)[2] == ("scans/unlawful", "unsourced", "no supporting quote present; citation 1 (scans/decision): "
                             f"capture {DECISION[:12]} is a PDF without a text layer and {off}; citation 2 (scans/photo): "
                             f"capture {PHOTO[:12]} is an image and {off}")
    again = khronika("run", str(case), "--archive", str(tmp_path / "archive"), "--no-ocr")
    assert (again.code, [x for x in again.err.splitlines() if x.startswith("note: ")]) == (0, [])  # recorded once
    later = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert later.code == 0, later.err
    assert [(c[0], c[1], c[2]) for c in citations(db)] == [
        ("scans/misread#1", "fuzzy", 1), ("scans/scanned-page#1", "exact", 1),
        ("scans/unlawful#1", "exact", 1), ("scans/unlawful#2", "normalized", 1)]


def test_without_tesseract_a_run_says_so_plainly_and_scans_are_unverifiable(tmp_path: Path) -> None:
    case = write_case(tmp_path)
    bin_dir = tmp_path / "bin"  # a PATH with pdftoppm but no tesseract
    bin_dir.mkdir()
    os.symlink(shutil.which("pdftoppm"), bin_dir / "pdftoppm")
    env_path = os.environ["PATH"]
    os.environ["PATH"] = str(bin_dir)
    try:
        r = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    finally:
        os.environ["PATH"] = env_path
    assert r.code == 1
    assert "Traceback" not in r.err
    missing = f"tesseract is not installed ({INSTALL})"
    assert [line for line in r.err.splitlines() if line.startswith("extraction failed")] == [
        f"extraction failed: {b[:12]}: {missing}" for b in (PHOTO, DECISION, LETTER)]
    db = tmp_path / "archive" / "archive.db"
    no = f"OCR gave no text: {missing}"
    assert [(c[0], c[1], c[2], c[7]) for c in citations(db)] == [
        ("scans/misread#1", "unverifiable", 0, f"capture {PHOTO[:12]} is an image and {no}"),
        ("scans/scanned-page#1", "unverifiable", 0,
         f"not in the text layer (not found, even approximately); page 2 has no text layer and {no}"),
        ("scans/unlawful#1", "unverifiable", 0, f"capture {DECISION[:12]} is a PDF without a text layer and {no}"),
        ("scans/unlawful#2", "unverifiable", 0, f"capture {PHOTO[:12]} is an image and {no}"),
    ]
    assert query(db, "SELECT DISTINCT extractor, extractor_version FROM extractions WHERE error IS NOT NULL") == [
        ("tesseract", "")]


# -- what a reader sees --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from test_web import make_datasette

    from ingest.claims.cases import load_case
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    folder = tmp_path_factory.mktemp("scans")
    case = write_case(folder)
    with Archive.open(folder / "archive", create=True) as archive:
        report = run([load_case(case)], archive, RunOptions(offline=True))
    assert not report.failed and not report.extraction_failures
    return folder / "archive", make_datasette(folder / "archive")


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def test_claim_page_says_found_in_ocr_text_and_links_the_page_image(scans: tuple[Path, Any]) -> None:
    import re

    page = get(scans[1], "/-/claim/scans/unlawful")
    assert page.status_code == 200
    notes = re.findall(r'<p class="ocr">(.*?)</p>', page.text)
    assert notes == [
        f'found in OCR text: compare with <a class="page-image" href="/-/archive/{DECISION}/page/1.png">the page image</a>',
        f'found in OCR text: compare with <a class="page-image" href="/-/archive/{PHOTO}">the page image</a>',
    ]
    assert "characters 0–48 of the OCR text (tesseract), page 1" in page.text
    ex = query(scans[0] / "archive.db", "SELECT id FROM extractions WHERE blake3 = ? AND extractor = 'tesseract'", (DECISION,))
    assert f'href="/-/archive/{DECISION}/text?extraction={ex[0][0]}">OCR text</a>' in page.text
    misread = get(scans[1], "/-/claim/scans/misread").text
    assert re.findall(r'<p class="ocr">(.*?)</p>', misread) == [
        f'searched in OCR text: compare with <a class="page-image" href="/-/archive/{PHOTO}">the page image</a>']


def test_the_page_image_is_the_archived_pdf_page_rendered(scans: tuple[Path, Any]) -> None:
    from PIL import Image

    r = get(scans[1], f"/-/archive/{DECISION}/page/1.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-khronika-blake3"] == DECISION
    assert r.headers["x-khronika-rendered"] == f"page 1 by {ocr.pdftoppm_version()}, 2000 px on the long side, gray"
    assert r.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(r.content))
    assert (image.format, max(image.size), image.size) == ("PNG", 2000, (2000, 1112))
    for path, status, message in [
        (f"/-/archive/{DECISION}/page/2.png", 404, "no such page in this PDF"),
        (f"/-/archive/{DECISION}/page/0.png", 404, "no such page in this PDF"),
        (f"/-/archive/{PHOTO}/page/1.png", 404, "not a PDF: its archived copy is the image"),
        (f"/-/archive/{'0' * 64}/page/1.png", 404, "no such file in the archive"),
    ]:
        bad = get(scans[1], path)
        assert (bad.status_code, bad.text) == (status, message)


def test_the_ocr_text_is_served_by_extraction(scans: tuple[Path, Any]) -> None:
    ids = query(scans[0] / "archive.db", "SELECT id, extractor FROM extractions WHERE blake3 = ? ORDER BY id", (LETTER,))
    layer, read = ids[0][0], ids[1][0]
    r = get(scans[1], f"/-/archive/{LETTER}/text?extraction={layer}")
    assert (r.text, r.headers["x-khronika-extractor"]) == (f"{COVER}\n\f", f"pypdf {EXTRACTORS['pypdf']}")
    r = get(scans[1], f"/-/archive/{LETTER}/text?extraction={read}")
    assert (r.text, r.headers["x-khronika-extractor"]) == (
        "\fThe court found the arrest of lvan Petrov unlawful.", f"tesseract {ocr.tesseract_version()}")
    assert get(scans[1], f"/-/archive/{LETTER}/text?extraction=x").text == "not an extraction id"


def test_source_page_shows_the_ocr_flag_and_both_texts(scans: tuple[Path, Any]) -> None:
    import re

    page = get(scans[1], "/-/source/scans/photo").text
    assert ("(citation 1, fuzzy, searched in OCR text: compare with the page image)" in page
            and "(citation 2, normalized, found in OCR text: compare with the page image)" in page)
    assert "extracted text</a>" not in page  # an image has no text but what OCR read
    letter = get(scans[1], "/-/source/scans/letter").text
    ids = query(scans[0] / "archive.db", "SELECT id FROM extractions WHERE blake3 = ? ORDER BY id", (LETTER,))
    assert re.findall(r'<p class="meta[^"]*">(.*?)</p>', letter)[-2:] == [
        'Extracted title: <span class="extracted-title">untitled</span> · author: <span class="extracted-author">'
        f'anonymous</span> · <a href="/-/archive/{LETTER}/text">extracted text</a> (40 characters) · '
        '<a class="cite-text" href="/-/source/scans/letter/text">select a passage to cite it</a> · '
        f'<a class="copy-page" href="/-/copy/{LETTER}">archived copy with its capture record</a>',
        f'<a href="/-/archive/{LETTER}/text?extraction={ids[1][0]}">OCR text</a> (tesseract {ocr.tesseract_version()}, '
        "52 characters): a machine's reading of the page images",
    ]
    found = get(scans[1], "/-/search?q=cover+letter").text
    assert f"/-/archive/{LETTER}" in found  # the text layer of a PDF that also has OCR text is searched


def test_verify_rereads_ocr_text_and_says_where_quotes_were_found(scans: tuple[Path, Any]) -> None:
    r = khronika("verify", "--archive", str(scans[0]), "--json")
    checks = json.loads(r.out)["checks"]
    assert [c for c in checks if c["subject"] == "citation scans/unlawful#1"] == [{
        "check": "quote", "subject": "citation scans/unlawful#1", "state": "ok",
        "detail": f"quote present (exact, found in OCR text) at [0, 48) of capture {DECISION[:16]}"}]
    tess = f"(tesseract {ocr.tesseract_version()})"
    assert [(c["state"], c["detail"]) for c in checks if c["subject"].endswith(tess)] == [
        ("ok", "re-extraction gives the same text hash")] * 3


def test_the_evidence_report_and_verify_bag_carry_the_ocr_flag(scans: tuple[Path, Any], tmp_path: Path) -> None:
    import re

    r = khronika("export", "scans", "--archive", str(scans[0]), "--out", str(tmp_path / "bag"))
    assert r.code == 0, r.err
    report = (tmp_path / "bag" / "data" / "report.html").read_text(encoding="utf-8")
    assert re.findall(r'<p class="ocr">(.*?)</p>', report) == [
        f"Searched in OCR text: compare with the page image (the archived image <code>data/files/{PHOTO}</code>).",
        f"Found in OCR text: compare with the page image (page 2 of the archived PDF <code>data/files/{LETTER}</code>).",
        f"Found in OCR text: compare with the page image (page 1 of the archived PDF <code>data/files/{DECISION}</code>).",
        f"Found in OCR text: compare with the page image (the archived image <code>data/files/{PHOTO}</code>).",
    ]
    bag = json.loads(khronika("verify-bag", str(tmp_path / "bag"), "--json").out)
    found = [c["detail"] for c in bag["checks"] if c["subject"] == "citation scans/unlawful#2"]
    assert found == ["quote present (normalized, found in OCR text) at [50, 76) of data/texts/2.txt"]
    again = {c["subject"]: (c["state"], c["detail"]) for c in bag["checks"] if c["check"] == "reproducibility"}
    assert {k: again[k] for k in ("data/texts/2.txt", "data/texts/4.txt", "data/texts/5.txt")} == {
        "data/texts/2.txt": ("ok", f"re-extracting data/files/{PHOTO[:16]}… gives the same text"),
        "data/texts/4.txt": ("ok", f"re-extracting data/files/{DECISION[:16]}… gives the same text"),
        "data/texts/5.txt": ("ok", f"re-extracting data/files/{LETTER[:16]}… gives the same text"),
    }


def test_a_quote_not_in_what_ocr_could_read_is_unverifiable_when_pages_went_unread(tmp_path: Path) -> None:
    from ingest.claims.cases import Citation
    from ingest.claims.status import anchor_in_capture
    from ingest.store.db import open_db

    db = open_db(tmp_path / "a.db")
    b3 = "ab" * 32
    db["files"].insert({"blake3": b3, "sha256": "cd" * 32, "size": 1, "media_type": "application/pdf"})
    db["extractions"].insert_all([
        {"id": 1, "blake3": b3, "extractor": "pypdf", "text": "\f", "pages": json.dumps([
            {"number": 1, "label": None, "start": 0, "end": 0, "has_text": False},
            {"number": 2, "label": None, "start": 1, "end": 1, "has_text": False}]),
         "metadata": json.dumps({"text_layer": "none"})},
        {"id": 2, "blake3": b3, "extractor": "tesseract", "text": "The first page was read.\f", "pages": json.dumps([
            {"number": 1, "label": None, "start": 0, "end": 24, "has_text": True},
            {"number": 2, "label": None, "start": 25, "end": 25, "has_text": False}]),
         "metadata": json.dumps({"page_errors": {"2": "tesseract timed out after 120 s"}})},
    ])

    def cite(quote: str) -> Citation:
        return Citation(source="s", quote=quote, stance="supports", line=1)

    found, ex = anchor_in_capture(db, b3, cite("first page was read"))
    assert (found.match, found.start, found.end, ex and ex["id"]) == ("exact", 4, 23, 2)
    missing, ex = anchor_in_capture(db, b3, cite("words on the second page"))
    assert (missing.match, missing.reason, ex and ex["id"]) == (
        "unverifiable", "not in the text that could be read (not found, even approximately); OCR failed on page(s) 2", 2)


def test_a_scan_served_over_http_is_ocrd_and_verify_live_finds_its_quote_in_the_new_version(
        tmp_path: Path, site: Any) -> None:
    url = site.set("/decision.pdf", scanned_pdf([[RU, EN]]), Content_Type="application/pdf")
    case = tmp_path / "live.yml"
    case.write_text(f"""case:
  id: live
  title: Live scan
sources:
  - id: decision
    url: {url}
claims:
  - id: unlawful
    text: The court found the detention unlawful.
    citations:
      - source: decision
        quote: "Суд признал задержание"
        stance: supports
""", encoding="utf-8")
    archive = tmp_path / "archive"
    r = khronika("run", str(case), "--archive", str(archive))
    assert r.code == 0, r.err
    assert [c[:3] for c in citations(archive / "archive.db")] == [("live/unlawful#1", "exact", 1)]
    # A new version of the scan (one more page): the quote must be looked for in its OCR text too.
    site.set("/decision.pdf", scanned_pdf([[RU, EN], ["Second page."]]), Content_Type="application/pdf")
    v = khronika("verify", "--archive", str(archive), "--live", "--json")
    live = [c for c in json.loads(v.out)["checks"] if c["check"] == "live"]
    # Drift (issue 11) reads the new version's OCR text as anchoring does.
    assert [(c["state"], c["finding"], c["detail"][:22], c["detail"][-17:]) for c in live] == [
        ("ok", "quote_present", "quote present (exact) ", ", in its OCR text")]
