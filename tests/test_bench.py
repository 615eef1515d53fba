"""The benchmark's generators: a synthetic case file whose quotes all anchor, and a serving DB in the real schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import khronika, query

from ingest.bench import synth
from ingest.bench.report import machine, verdict
from ingest.bench.web_bench import SEARCH_SQL, build_web_db, param_value, query_plan
from ingest.claims.cases import load_case


def test_synthetic_case_is_valid_and_every_quote_anchors(tmp_path: Path) -> None:
    case_file, docs = synth.build(tmp_path / "corpus", 8, 10, pdf_share=0.4)
    case = load_case(case_file)
    assert len(case.sources) == 8
    assert len(case.claims) == 10
    assert {d.relpath.rsplit(".", 1)[1] for d in docs} == {"html", "pdf"}
    assert {d.language for d in docs} == {"ru", "en"}
    result = khronika("run", str(case_file), "--archive", str(tmp_path / "archive"), "--offline")
    assert result.code == 0, result.err
    assert "8 new capture(s)" in result.err
    db = tmp_path / "archive" / "archive.db"
    citations = sum(len(c.citations) for c in case.claims)
    assert query(db, "SELECT match, count(*) FROM citations GROUP BY match") == [("exact", citations)]
    assert query(db, "SELECT status, count(*) FROM claims GROUP BY status") == [("sourced", 10)]


def test_synthetic_corpus_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    synth.build(tmp_path / "a", 3, 3)
    synth.build(tmp_path / "b", 3, 3)
    for name in ("bench.yml", "docs/d-000001.html", "docs/d-000003.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_web_db_fills_the_real_schema_and_its_queries_use_indexes(tmp_path: Path) -> None:
    db = tmp_path / "web" / "archive.db"
    build_web_db(db, 30, 200, say=lambda s: None)
    assert query(db, "SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM extractions), "
                     "(SELECT count(*) FROM claims), (SELECT count(*) FROM citations)") == [(30, 30, 200, 267)]
    conn = sqlite3.connect(db)
    # every synthetic quote is at its recorded offsets in its extraction's text
    bad = conn.execute("SELECT count(*) FROM citations c JOIN extractions e ON e.id = c.extraction_id "
                       "WHERE substr(e.text, c.start + 1, c.end - c.start) != c.quote").fetchone()
    assert bad == (0,)
    assert query_plan(conn, "SELECT count(*) FROM citations WHERE claim_id = ?", ["x"])[1] == []
    assert query_plan(conn, SEARCH_SQL, {"q": "суд"})[1] == []
    assert query_plan(conn, "SELECT * FROM claims WHERE text LIKE ?", ["%x%"])[1] == ["SCAN claims"]
    conn.close()


def test_param_values_and_verdicts() -> None:
    samples = {"claim": "c/1", "case": "c", "claim_slug": "1", "source": "c/s", "source_slug": "s", "date": "2024-01-01",
               "type": "fine", "person": "P", "outlet": "O", "blake3": "ab", "q": "суд"}
    assert [param_value(p, samples) for p in ("q", "case", "claim_id", "source", "since", "until", "person")] == \
        ["суд", "c", "c/1", "c/s", "2020-01-01", "2030-12-31", "P"]
    assert verdict("pipeline_overhead_pct", 12.0) == "met"
    assert verdict("pipeline_overhead_pct", 20.5) == "missed by 5.5 %"
    assert verdict("rerun_speedup", 25.0) == "missed: 25x, 2.0x short of 50x"


@pytest.mark.slow
def test_ocr_bench_reads_every_scanned_page_and_reports_pages_per_minute(tmp_path: Path) -> None:
    from ingest.bench.ocr_bench import bench_ocr
    from ingest.bench.report import markdown
    from ingest.text import ocr

    said: list[str] = []
    o = bench_ocr(tmp_path, 1, said.append)
    assert said == ["OCR of 1 scanned A4 page(s) ..."]
    assert {k: o[k] for k in ("pages", "pages_read", "error", "dpi", "tesseract", "languages")} == {
        "pages": 1, "pages_read": 1, "error": None, "dpi": 300, "tesseract": ocr.tesseract_version(), "languages": "rus+eng"}
    assert o["pages_per_minute"] == round(60 / o["seconds"], 1)
    row = markdown({"machine": machine(), "ocr": o}).splitlines()[-1]
    assert row == (f"| OCR, scanned A4 pages (300 dpi, rus+eng, tesseract {ocr.tesseract_version()}) | "
                   f"1 of 1 pages in {o['seconds']} s: {o['pages_per_minute']} pages/min | | measured |")


def test_the_bench_reports_browser_captures_per_minute() -> None:
    from ingest.bench.report import markdown

    results = {"machine": machine(), "browser": {"pages": 3, "seconds": 17.1, "per_minute": 10.5, "error": None,
                                                 "outcomes": {"complete": 3}, "browser": "chromium 1 (playwright 2)"}}
    assert markdown(results).splitlines()[-1] == (
        "| browser captures per minute (a script-rendered page, behind the recording proxy, chromium 1 (playwright 2)) "
        "| 3 pages in 17.1 s: 10.5 per minute ({'complete': 3}) | | measured |")
