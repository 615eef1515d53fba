"""The visibility stage's cost, apart from ingest: the static pass over every HTML quote, and
Chromium over pages the static pass leaves undecided (one browser for them all)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Styled so that the static pass cannot decide (a colour could hide text): the browser must.
STYLE = b"<style>article p { color: #222; background: #fff }</style></head>"


def bench_visibility(archive_dir: Path, work: Path, pages: int, say: Callable[[str], None]) -> dict[str, Any]:
    from ingest.bench import synth
    from ingest.claims.cases import load_case
    from ingest.claims.visibility import StageReport, html_citations, judge
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    out: dict[str, Any] = {}
    say("visibility, static pass over every HTML quote of the ingested archive ...")
    with Archive.open(archive_dir, write=False) as archive:
        rows = html_citations(archive.db)
        start = time.perf_counter()
        judged = judge(archive, rows, browser=False)
        seconds = time.perf_counter() - start
    out["static_quotes"] = len(rows)
    out["static_seconds"] = round(seconds, 3)
    out["static_quotes_per_second"] = round(len(rows) / seconds, 1) if seconds else None
    out["static_states"] = dict(Counter(j.verdict.state for j in judged.values()))

    say(f"visibility, Chromium over {pages} styled pages the static pass cannot decide ...")
    synth.clean(work)
    case_file, made = synth.build(work / "corpus", pages, pages, pdf_share=0.0)
    for doc in made:
        path = work / "corpus" / doc.relpath
        path.write_bytes(path.read_bytes().replace(b"</head>", STYLE, 1))
    with Archive.open(work / "archive", create=True) as archive:
        run([load_case(case_file)], archive, RunOptions(offline=True, visibility="off"))
        rows = html_citations(archive.db)
        report = StageReport()
        start = time.perf_counter()
        judged = judge(archive, rows, browser=True, report=report)
        seconds = time.perf_counter() - start
    out.update({
        "chromium_quotes": len(rows), "chromium_pages": report.pages_rendered, "chromium_seconds": round(seconds, 2),
        "chromium_quotes_per_second": round(len(rows) / seconds, 2) if seconds else None,
        "chromium_states": dict(Counter(j.verdict.state for j in judged.values())), "browser": report.browser,
    })
    return out


def markdown_rows(vis: dict[str, Any]) -> list[str]:
    return [
        f"| visibility, static pass | {vis['static_quotes']} quotes in {vis['static_seconds']} s: "
        f"{vis['static_quotes_per_second']} quotes/s ({vis['static_states']}) | | |",
        f"| visibility, Chromium ({vis['browser']}) | {vis['chromium_quotes']} quotes on {vis['chromium_pages']} pages in "
        f"{vis['chromium_seconds']} s, browser start included: {vis['chromium_quotes_per_second']} quotes/s "
        f"({vis['chromium_states']}) | | |",
    ]
