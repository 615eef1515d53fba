"""Throughput of the capture kinds other parts add (a browser, Telegram): measured when their code is present.

A capture kind is measured by a function `bench(work, repeats, say) -> dict` in a module of
`ingest.bench` (the contract below); the table gets the rows it returns. Until the capture
module itself exists, the table says the kind is not on this branch rather than leaving it out.

The function returns {"rows": [[measurement, result, target, verdict], ...], ...anything for the
JSON}. It should time `repeats` interleaved rounds with `ingest.bench.stats.interleave` (for a
browser: 1 and 2 browsers, round by round), report captures per minute or posts per second from
the minimum, and the peak memory of the process tree (`ingest.bench.common.run_child` measures
it for a child process, `TreePeak` for any pid).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

# kind -> (the capture module that must exist, the benchmark module, its function)
KINDS: dict[str, tuple[str, str, str]] = {
    "browser captures": ("ingest.capture.browser", "ingest.bench.captures", "browser_captures"),
    "Telegram posts": ("ingest.capture.telegram", "ingest.bench.captures", "telegram_posts"),
}
TELEGRAM_POSTS = 300  # preview pages read per round
BROWSER_PAGES = 10  # script-rendered pages captured behind the recording proxy


def browser_captures(work: Path, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Browser captures per minute with 1 and 2 browsers at once, in interleaved rounds of
    BROWSER_PAGES pages each (ingest.bench.browser_bench), with each round's process-tree peak."""
    from ingest.bench.browser_bench import bench_browsers
    from ingest.bench.stats import interleave

    found: dict[int, list[dict[str, Any]]] = {1: [], 2: []}

    def once(browsers: int) -> Callable[[int], float]:
        def run(n: int) -> float:
            b = bench_browsers(work, BROWSER_PAGES, browsers, f"{browsers}-{n}")
            found[browsers].append(b)
            return float(b["seconds"]) if b["seconds"] is not None else float("inf")
        return run

    say(f"browser captures: {repeats} interleaved rounds of {BROWSER_PAGES} pages with 1 and 2 browsers ...")
    series = interleave([("1 browser", once(1)), ("2 browsers", once(2))], repeats, say)
    return {"rows": [browser_row(found, {k: v.summary() for k, v in series.items()})],
            "rounds": found, "series": {k: v.as_json() for k, v in series.items()}}


def browser_row(found: dict[int, list[dict[str, Any]]], summaries: dict[str, str]) -> list[str]:
    """The table row of the browser-capture rounds: per minute from each count's fastest round."""
    errors = [b["error"] for rounds in found.values() for b in rounds if b["error"]]
    first = next((b for rounds in found.values() for b in rounds if b["browser"]), None)
    what = (f"browser captures per minute (a script-rendered page, behind the recording proxy, "
            f"{first['browser'] if first else 'no browser'}; 1 and 2 browsers at once)")
    if errors:
        return [what, f"not measured: {errors[0]}", "", "not measured"]
    parts, outcomes = [], {}
    for browsers, name in ((1, "1 browser"), (2, "2 browsers")):
        best = min(found[browsers], key=lambda b: b["seconds"])
        peak = max(b["tree_pss_mib"] for b in found[browsers])
        parts.append(f"{round(60 * best['pages'] / best['seconds'], 1)} per minute with {name} ({summaries[name]}), "
                     f"process tree peak {peak} MiB PSS")
        for b in found[browsers]:
            for k, v in b["outcomes"].items():
                outcomes[k] = outcomes.get(k, 0) + v
    return [what, f"{BROWSER_PAGES} pages per round: " + "; ".join(parts) + f"; outcomes {outcomes}", "", "measured"]


def telegram_posts(work: Path, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Telegram posts per second with 1 and 2 workers, in interleaved rounds (ingest.bench.telegram_bench)."""
    import resource

    from ingest.bench.stats import interleave
    from ingest.bench.telegram_bench import bench_telegram

    found: dict[str, dict[str, Any]] = {}

    def once(workers: int) -> Callable[[int], float]:
        def run(n: int) -> float:
            found[str(workers)] = bench_telegram(work, TELEGRAM_POSTS, workers, say)
            return float(found[str(workers)]["seconds"])
        return run

    series = interleave([("1 worker", once(1)), ("2 workers", once(2))], repeats, say)
    # The largest child this bench process has reaped so far: the Telegram workers, but also any
    # earlier part's children (OCR's Tesseract), so it is kept in the JSON under that name, not shown
    # as the workers' peak.
    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rates = {k: round(TELEGRAM_POSTS / v.min, 1) for k, v in series.items()}
    failed = sum(r["failed"] for r in found.values())
    row = [f"Telegram posts ({TELEGRAM_POSTS} preview pages per round, reader {found['1']['reader']})",
           f"{rates['1 worker']} posts/s with 1 worker ({series['1 worker'].summary()}), {rates['2 workers']} with 2 "
           f"({series['2 workers'].summary()}); {failed} failed", "",
           "measured" if not failed else "missed: some posts failed"]
    return {"rows": [row], "posts_per_second": rates, "series": {k: v.as_json() for k, v in series.items()},
            "largest_child_so_far_rss_mib": round(children_peak, 1)}


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def bench_capture_kinds(work: Path, repeats: int, say: Callable[[str], None],
                        kinds: dict[str, tuple[str, str, str]] | None = None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind, (capture, bench, function) in (KINDS if kinds is None else kinds).items():
        if not _present(capture):
            out[kind] = {"rows": [[kind, f"not measured: {capture} is not on this branch", "", "not measured"]]}
        elif not _present(bench):
            out[kind] = {"rows": [[kind, f"not measured: {capture} has no benchmark yet ({bench}.{function})", "",
                                   "not measured"]]}
        else:
            say(f"{kind} ...")
            out[kind] = getattr(importlib.import_module(bench), function)(work / function, repeats, say)
    return out


def capture_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    return ["| " + " | ".join(str(cell) for cell in row) + " |" for r in results.values() for row in r["rows"]]
