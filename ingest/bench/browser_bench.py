"""Browser capture throughput for `make bench`: pages captured per minute behind the recording proxy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
