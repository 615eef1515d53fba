"""Shared fixtures: a real HTTP server on 127.0.0.1 whose pages tests change, and a CLI runner."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The suite must not depend on the caller's shell: a KHRONIKA_ALLOW_PRIVATE=1 (or any other
# KHRONIKA_* setting) there would change what the tests see. Tests that need one set it themselves.
for _name in [n for n in os.environ if n.startswith("KHRONIKA_")]:
    del os.environ[_name]


@dataclass
class Page:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering


class Site:
    """Routes served by a real HTTP server; tests change them between runs."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.pages: dict[str, Page] = {}
        self.hits: dict[str, int] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.tls = tls
        if tls is not None:  # HTTPS with a certificate from the tests' own CA (tests/tls_ca.py)
            self.server.daemon_threads = True
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return self.base + path

    def set(self, path: str, body: bytes = b"", status: int = 200, delay: float = 0.0, **headers: str) -> str:
        self.pages[path] = Page(status, body, {k.replace("_", "-"): v for k, v in headers.items()}, delay)
        return self.url(path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                site.hits[self.path] = site.hits.get(self.path, 0) + 1
                page = site.pages.get(self.path)
                if page is None:
                    page = Page(404, b"not here", {"Content-Type": "text/plain"})
                if page.delay:
                    time.sleep(page.delay)
                self.send_response(page.status)
                for k, v in page.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                self.wfile.write(page.body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each socket to `handle`."""

    def __init__(self, handle: Callable[[socket.socket], None], timeout: float = 5) -> None:
        self.handle = handle
        self.timeout = timeout
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(self.timeout)
            self.handle(conn)
        except OSError:
            pass  # the client hung up, as the tests want it to
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()



def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


@dataclass
class Result:
    code: int
    out: str
    err: str


def khronika(*args: str, cwd: Path | None = None, timeout: float = 300) -> Result:
    """Run `python -m ingest ARGS` as a user would, in a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", *args], cwd=cwd or ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), "KHRONIKA_ALLOW_PRIVATE": "1"},  # test servers are on 127.0.0.1
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return khronika


DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def make_pdf(pages: list[str], title: str = "Test document") -> bytes:
    """A PDF with a real text layer in DejaVu Sans (Cyrillic glyphs), one string per page."""
    import io

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", DEJAVU))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.setTitle(title)
    for text in pages:
        c.setFont("DejaVu", 12)
        c.drawString(72, 720, text)
        c.showPage()
    c.save()
    return buf.getvalue()


def query(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(archive: Path | str, log: Path, *extra: str, cwd: Path = ROOT, wait: float = 30,
                own_group: bool = True) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m ingest serve` on a free port of 127.0.0.1, returned once it answers (its output in `log`).

    `own_group`: in a process group of its own, so that stopping it (stop_serve) reaches Datasette too."""
    import urllib.request

    port = free_port()
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "ingest", "serve", "--archive", str(archive), "--port", str(port),
                                 *extra], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=own_group)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    while True:
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=1).read()
            return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                if own_group:
                    os.killpg(proc.pid, 9)
                else:
                    proc.kill()
                raise RuntimeError("server did not start: " + log.read_text())
            time.sleep(0.2)


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (serve and Datasette), and wait for serve to end."""
    os.killpg(proc.pid, 15)
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through the project's one launcher (ingest.capture.chromium: its path, its
    fixed flags, its clear error when it is missing), for tests of what a person sees."""
    from ingest.capture.chromium import launched

    with launched() as (b, _version):
        yield b
