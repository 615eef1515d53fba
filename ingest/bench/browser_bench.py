"""Browser capture throughput for `make bench`: pages captured per minute behind the recording proxy,
with one browser and with several at once (each in a process of its own, as separate runs would be)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_PAGE = (b'<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Bench</title></head>'
         b'<body><div id="root">Loading</div><script src="/app.js"></script></body></html>')
_APP = (b"fetch('/article.json').then(r => r.json()).then(d => {"
        b" document.getElementById('root').innerHTML = '<article><p>' + d.text + '</p></article>'; });")
_JSON = b'{"text": "The district court fined the defendant twenty thousand rubles after a short hearing."}'


def _server() -> ThreadingHTTPServer:
    routes = {"/": (_PAGE, "text/html"), "/app.js": (_APP, "text/javascript"), "/article.json": (_JSON, "application/json")}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            body, media = routes.get(self.path.split("?")[0], (b"not here", "text/plain"))
            self.send_response(200 if self.path.split("?")[0] in routes else 404)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def bench_browser(pages: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Capture a script-rendered page `pages` times in one browser (a fresh context and proxy each)."""
    from ingest.capture.browser import BrowserOptions, capture, launched
    from ingest.capture.chromium import BrowserUnavailable
    from ingest.capture.proxy import ProxyUnavailable

    say(f"browser capture of {pages} page(s) ...")
    srv = _server()
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    outcomes: dict[str, int] = {}
    try:
        with launched() as browser:
            start = time.perf_counter()
            for n in range(pages):
                cap = capture(f"{url}?n={n}", BrowserOptions(allow_private=True, idle_cap=2.0), browser)
                outcomes[cap.outcome] = outcomes.get(cap.outcome, 0) + 1
            seconds = time.perf_counter() - start
            version = browser[1]
    except (BrowserUnavailable, ProxyUnavailable) as exc:
        return {"pages": pages, "error": str(exc), "seconds": None, "per_minute": 0.0, "outcomes": {}, "browser": None}
    finally:
        srv.shutdown()
        srv.server_close()
    return {"pages": pages, "error": None, "seconds": round(seconds, 2), "outcomes": outcomes, "browser": version,
            "per_minute": round(60 * pages / seconds, 1)}


def _quiet(pages: int) -> dict[str, Any]:
    return bench_browser(pages, lambda s: None)


def browsers_main(argv: list[str]) -> None:
    """Child entry point: capture PAGES pages with BROWSERS browsers at once, each browser in a forked
    process of its own capturing its share; write the combined result as JSON to OUT."""
    import multiprocessing

    pages, browsers, out = int(argv[0]), int(argv[1]), Path(argv[2])
    shares = [pages // browsers + (1 if n < pages % browsers else 0) for n in range(browsers)]
    if browsers == 1:
        results = [_quiet(pages)]
    else:  # nothing of Playwright is imported before the fork: each process starts its own
        with multiprocessing.get_context("fork").Pool(browsers) as pool:
            results = pool.map(_quiet, shares)
    outcomes: dict[str, int] = {}
    for r in results:
        for k, v in r["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v
    error = next((r["error"] for r in results if r["error"]), None)
    # The browsers capture side by side: the slowest one's loop is how long the pages took.
    seconds = None if error else max(r["seconds"] for r in results)
    out.write_text(json.dumps({"pages": pages, "browsers": browsers, "error": error, "seconds": seconds,
                               "outcomes": outcomes, "browser": results[0]["browser"]}), encoding="utf-8")


def bench_browsers(work: Path, pages: int, browsers: int, tag: str) -> dict[str, Any]:
    """`browsers_main` in a child process: its result, with the peak memory of its whole process
    tree (the browsers, their renderers and the recording proxies), as summed RSS and summed PSS."""
    from ingest.bench.common import run_child

    work.mkdir(parents=True, exist_ok=True)
    out = work / f"browsers-{tag}.json"
    out.unlink(missing_ok=True)
    run = run_child([sys.executable, "-c", "import sys; from ingest.bench.browser_bench import browsers_main; "
                     "browsers_main(sys.argv[1:])", str(pages), str(browsers), str(out)], work / f"browsers-{tag}.log")
    if run.returncode != 0 or not out.exists():
        return {"pages": pages, "browsers": browsers, "error": f"exited {run.returncode}: {run.stderr_tail[-300:]}",
                "seconds": None, "outcomes": {}, "browser": None, "tree_rss_mib": run.tree_rss_mib,
                "tree_pss_mib": run.tree_pss_mib}
    return {**json.loads(out.read_text(encoding="utf-8")), "tree_rss_mib": round(run.tree_rss_mib, 1),
            "tree_pss_mib": round(run.tree_pss_mib, 1)}
