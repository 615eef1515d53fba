"""Benchmarks (`make bench`): ingest against a bare extraction loop, workers, re-runs, fixity, memory, the
visibility stage (quotes checked per second), OCR, browser capture, Datasette latency.

Everything is measured in one run on the same files. Ingest runs are the real command
(`python -m ingest run --offline`) in a child process, timed from start to exit, with the
child's peak RSS from wait4(2); the bare loop is a child process too (same interpreter
start-up and imports), so the difference is what the pipeline adds: hashing, storing,
the WARC, the log, the database, the sandboxed worker per file and anchoring.

Example: python -m ingest.bench --quick
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from ingest.bench.browser_bench import bench_browser
from ingest.bench.ingest_bench import bench_ingest
from ingest.bench.ocr_bench import bench_ocr
from ingest.bench.report import machine, markdown, plans_text
from ingest.bench.telegram_bench import bench_telegram
from ingest.bench.visibility_bench import bench_visibility
from ingest.bench.web_bench import bench_web, build_web_db, find_metadata


@click.command()
@click.option("--docs", type=click.IntRange(1), default=2000, show_default=True, help="Synthetic corpus size.")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Use the documents in this folder (*.html, *.html.gz, *.pdf, *.txt) instead of a synthetic corpus.")
@click.option("--claims", type=click.IntRange(0), default=None, help="Claims in the case file [default: one per document].")
@click.option("--workers", type=click.IntRange(1, 64), default=os.cpu_count() or 1, show_default=True)
@click.option("--web-docs", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--web-claims", type=click.IntRange(1), default=1_000_000, show_default=True)
@click.option("--requests", type=click.IntRange(1), default=50, show_default=True, help="Requests per Datasette route.")
@click.option("--metadata", "metadata_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Datasette metadata with canned queries [default: metadata.yml in the repository, if any].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench-results/results.json"), show_default=True)
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results/work"), show_default=True,
              help="Scratch folder (corpus, archives, the Datasette DB, kept between runs).")
@click.option("--quick", is_flag=True, help="Small sizes: 200 documents, a 2,000-document / 20,000-claim Datasette DB.")
@click.option("--skip-ingest", is_flag=True)
@click.option("--skip-web", is_flag=True)
@click.option("--ocr-pages", type=click.IntRange(0), default=10, show_default=True, help="Scanned A4 pages to OCR (0: skip).")
@click.option("--browser-pages", type=click.IntRange(0), default=10, show_default=True,
              help="Pages to capture in the browser (0: skip).")
@click.option("--visibility-pages", type=click.IntRange(1), default=50, show_default=True,
              help="Styled pages rendered in Chromium to measure the visibility stage's browser pass.")
def main(docs: int, corpus: Path | None, claims: int | None, workers: int, web_docs: int, web_claims: int, requests: int,
         metadata_path: Path | None, out: Path, work: Path, quick: bool, skip_ingest: bool, skip_web: bool,
         ocr_pages: int, browser_pages: int, visibility_pages: int) -> None:
    """Measure ingest, re-runs, fixity, memory and Datasette latency; write JSON and print a Markdown table.

    Example: python -m ingest.bench --docs 2000 --workers 2
    """
    if quick:
        docs, web_docs, web_claims, requests = min(docs, 200), min(web_docs, 2000), min(web_claims, 20000), min(requests, 20)
        ocr_pages, browser_pages = min(ocr_pages, 2), min(browser_pages, 3)
        visibility_pages = min(visibility_pages, 10)
    if claims is None:  # one claim per document
        claims = docs if corpus is None else sum(
            1 for p in corpus.iterdir() if p.name.endswith((".html", ".html.gz", ".pdf", ".txt")))
    work, out = work.resolve(), out.resolve()
    say = lambda s: click.echo(s, err=True)  # noqa: E731
    results: dict[str, Any] = {"machine": machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "note": "measured while other processes may share the machine; see load averages"}
    if not skip_ingest:
        results["ingest"] = bench_ingest(work / "ingest", 0 if corpus and docs == 2000 else docs, claims, workers, corpus, say)
        # Its own stage: ingest above ran with --visibility off, so its overhead is measured without it.
        results["visibility"] = bench_visibility(work / "ingest" / "archive-1", work / "visibility", visibility_pages, say)
    if ocr_pages:
        results["ocr"] = bench_ocr(work / "ocr", ocr_pages, say)
    results["telegram"] = bench_telegram(work / "telegram", 50 if quick else 1000, workers, say)
    if browser_pages:
        results["browser"] = bench_browser(browser_pages, say)
    if not skip_web:
        db_path = work / f"web-{web_docs}-{web_claims}" / "archive.db"
        if not (db_path.parent / "complete").exists():
            start = time.perf_counter()
            build_web_db(db_path, web_docs, web_claims, say=say)
            (db_path.parent / "complete").write_text(f"{time.perf_counter() - start:.1f} s\n")
        say(f"Datasette at {web_docs} documents, {web_claims} claims ...")
        web = bench_web(db_path, requests, find_metadata(metadata_path), say)
        web.update(documents=web_docs, claims=web_claims, db_mib=round(db_path.stat().st_size / 2**20, 1))
        results["web"] = web
        click.echo(plans_text(web))
        click.echo("")
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    click.echo(markdown(results))
    click.echo(f"\nresults written to {out}", err=True)


if __name__ == "__main__":
    main()

