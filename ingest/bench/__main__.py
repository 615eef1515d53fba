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

from ingest.bench.captures import bench_capture_kinds
from ingest.bench.ingest_bench import bench_ingest
from ingest.bench.ocr_bench import bench_ocr
from ingest.bench.report import machine, markdown, plans_text
from ingest.bench.served import bench_served
from ingest.bench.stats import load
from ingest.bench.visibility_bench import bench_visibility
from ingest.bench.web_bench import find_metadata


def _size(value: str) -> tuple[int, int]:
    docs, _, claims = value.partition(":")
    if not (docs.isdigit() and claims.isdigit() and int(docs) > 0 and int(claims) > 0):
        raise click.BadParameter(f'"{value}" is not DOCUMENTS:CLAIMS (two positive whole numbers)')
    return int(docs), int(claims)


@click.command()
@click.option("--docs", type=click.IntRange(1), default=2000, show_default=True, help="Synthetic corpus size.")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Use the documents in this folder (*.html, *.html.gz, *.pdf, *.txt) instead of a synthetic corpus.")
@click.option("--claims", type=click.IntRange(0), default=None, help="Claims in the case file [default: one per document].")
@click.option("--workers", type=click.IntRange(1, 64), default=os.cpu_count() or 1, show_default=True)
@click.option("--repeats", type=click.IntRange(3), default=3, show_default=True,
              help="Interleaved rounds of every timed phase (min and median are reported).")
@click.option("--web-size", "web_sizes", multiple=True, default=("100000:1000000", "1000000:10000000"), show_default=True,
              help="DOCUMENTS:CLAIMS of a Datasette database to serve (repeatable).")
@click.option("--web-cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the Datasette databases are built and kept between runs [default: the --work folder].")
@click.option("--requests", type=click.IntRange(1), default=50, show_default=True, help="Requests per Datasette route.")
@click.option("--metadata", "metadata_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Datasette metadata with canned queries [default: metadata.yml in the repository, if any].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench-results/results.json"), show_default=True)
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results/work"), show_default=True,
              help="Scratch folder (corpus, archives, kept between runs).")
@click.option("--quick", is_flag=True, help="Small sizes: 200 documents, a 2,000-document / 20,000-claim Datasette DB.")
@click.option("--skip-ingest", is_flag=True)
@click.option("--skip-web", is_flag=True)
@click.option("--skip-captures", is_flag=True, help="Skip the browser and Telegram capture rows.")
@click.option("--ocr-pages", type=click.IntRange(0), default=4, show_default=True, help="Scanned A4 pages to OCR per round (0: skip).")
@click.option("--visibility-pages", type=click.IntRange(1), default=50, show_default=True,
              help="Styled pages rendered in Chromium to measure the visibility stage's browser pass.")
def main(docs: int, corpus: Path | None, claims: int | None, workers: int, repeats: int, web_sizes: tuple[str, ...],
         web_cache: Path | None, requests: int, metadata_path: Path | None, out: Path, work: Path, quick: bool,
         skip_ingest: bool, skip_web: bool, skip_captures: bool, ocr_pages: int, visibility_pages: int) -> None:
    """Measure ingest, re-runs, fixity, memory and Datasette latency; write JSON and print a Markdown table.

    Example: python -m ingest.bench --docs 2000 --workers 2
    """
    sizes = [_size(v) for v in web_sizes]
    if quick:
        docs, requests, ocr_pages = min(docs, 200), min(requests, 20), min(ocr_pages, 1)
        visibility_pages = min(visibility_pages, 10)
        sizes = [(2000, 20000)]
    if claims is None:  # one claim per document
        claims = docs if corpus is None else sum(
            1 for p in corpus.iterdir() if p.name.endswith((".html", ".html.gz", ".pdf", ".txt")))
    work, out = work.resolve(), out.resolve()
    say = lambda s: click.echo(s, err=True)  # noqa: E731
    results: dict[str, Any] = {"machine": machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "note": "measured while other processes may share the machine; see load averages"}
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every part: a long run stopped midway keeps what it measured
        out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")

    if not skip_ingest:
        results["ingest"] = bench_ingest(work / "ingest", 0 if corpus and docs == 2000 else docs, claims, workers, corpus,
                                         say, repeats)
        save()
        # Its own stage: ingest above ran with --visibility off, so its overhead is measured without it.
        results["visibility"] = bench_visibility(work / "ingest" / "archive-1-0", work / "visibility", visibility_pages, say)
        save()
    if ocr_pages:
        results["ocr"] = bench_ocr(work / "ocr", ocr_pages, say, repeats)
        save()
    if not skip_captures:
        results["captures"] = bench_capture_kinds(work / "captures", repeats, say)
    if not skip_web:
        results["web"] = []
        for web_docs, web_claims in sizes:
            web = bench_served(((web_cache or work).resolve()) / f"web-{web_docs}-{web_claims}", web_docs, web_claims,
                               requests, find_metadata(metadata_path), say)
            results["web"].append(web)
            save()
            click.echo(plans_text(web))
            click.echo("")
    results["machine"]["load_average_at_end"] = load()
    save()
    click.echo(markdown(results))
    click.echo(f"\nresults written to {out}", err=True)


if __name__ == "__main__":
    main()
