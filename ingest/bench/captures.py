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
    """Browser captures per minute with one browser (ingest.bench.browser_bench); one round, not interleaved."""
    from ingest.bench.browser_bench import bench_browser

    b = bench_browser(BROWSER_PAGES, say)
    return {"rows": [browser_row(b)], **b}


def browser_row(b: dict[str, Any]) -> list[str]:
    """The table row of one browser-capture measurement (ingest.bench.browser_bench's result)."""
    return [f"browser captures per minute (a script-rendered page, behind the recording proxy, {b['browser']}; "
            "1 browser, one round)",
            f"{b['pages']} pages in {b['seconds']} s: {b['per_minute']} per minute ({b['outcomes']})"
            f"{', error: ' + b['error'] if b['error'] else ''}", "",
            "measured" if not b["error"] else "missed: " + str(b["error"])]


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
    # The workers are this process's children: the largest one's peak (not a sum over the tree).
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rates = {k: round(TELEGRAM_POSTS / v.min, 1) for k, v in series.items()}
    failed = sum(r["failed"] for r in found.values())
    row = [f"Telegram posts ({TELEGRAM_POSTS} preview pages per round, reader {found['1']['reader']})",
           f"{rates['1 worker']} posts/s with 1 worker ({series['1 worker'].summary()}), {rates['2 workers']} with 2 "
           f"({series['2 workers'].summary()}); {failed} failed; largest worker's peak RSS {worker_peak:.1f} MiB", "",
           "measured" if not failed else "missed: some posts failed"]
    return {"rows": [row], "posts_per_second": rates, "series": {k: v.as_json() for k, v in series.items()},
            "worker_peak_rss_mib": round(worker_peak, 1)}


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
