"""Tests for ingest.capture.fetch against real HTTP servers on 127.0.0.1.

Well-behaved pages come from a ThreadingHTTPServer; misbehaving servers
(drip, lying Content-Length, endless chunked, proxies) are raw sockets in
threads. Nothing here sends traffic beyond the loopback interface: address
refusals are tested on check_address / resolve_allowed directly, with a fake
resolver where a name is needed.
"""

from __future__ import annotations

import gzip
import re
import socket
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest
from conftest import RawServer, read_request

from ingest.capture.fetch import (
    AddressRefused,
    FetchConfig,
    FetchResult,
    Limits,
    ResolveFailed,
    check_address,
    fetch,
    resolve_allowed,
    sniff_media_type,
)
from ingest.errors import FetchFailed

HINT = "use --allow-private to fetch from local and private networks"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def small_limits(**kw: float) -> Limits:
    base = dict(
        max_body=64 * 1024,
        max_decoded=256 * 1024,
        connect_timeout=2.0,
        read_timeout=2.0,
        total_timeout=5.0,
        max_redirects=5,
        max_url_length=2048,
    )
    base.update(kw)
    return Limits(**base)  # type: ignore[arg-type]


def cfg(**kw: float) -> FetchConfig:
    return FetchConfig(limits=small_limits(**kw), allow_private=True)


def failure(url: str, config: FetchConfig | None = None) -> FetchFailed:
    with pytest.raises(FetchFailed) as info:
        fetch(url, config or cfg())
    return info.value


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

UTF8_BODY = "<!doctype html><title>Свобода</title><p>Żółć — ünïcødé</p>".encode()
CP1251_BODY = "<html><body>Права человека: свидетельство</body></html>".encode("cp1251")
PDF_BODY = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PLAIN = b"The quick brown fox. " * 500
GZ = gzip.compress(PLAIN)
MULTI_A = b"first member " * 300
MULTI_B = b"second member " * 300
MULTI_GZ = gzip.compress(MULTI_A) + gzip.compress(MULTI_B)

Route = Callable[[BaseHTTPRequestHandler], tuple[int, list[tuple[str, str]], bytes]]


def page(status: int, body: bytes = b"", *headers: tuple[str, str]) -> Route:
    return lambda h: (status, list(headers), body)


def redirect(status: int, location: str) -> Route:
    return lambda h: (status, [("Location", location)], b"moved")


def chain(h: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
    n = int(h.path.rsplit("/", 1)[1])
    return 302, [("Location", f"/chain/{n + 1}")], b""


def count_down(h: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
    n = int(h.path.rsplit("/", 1)[1])
    if n == 0:
        return 200, [("Content-Type", "text/plain")], b"landed"
    return 301, [("Location", f"/count/{n - 1}")], b""


def make_bomb() -> bytes:
    """A valid gzip stream of 1 GiB of zeros (about 1 MB), built in well under a second.

    After Z_FULL_FLUSH the compressor has no history, so every 1 MiB block of
    zeros compresses to the same bytes; repeat them and add the real trailer.
    """
    zeros = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush()
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * 1024 + end + struct.pack("<II", crc, (1 << 30) & 0xFFFFFFFF)


BOMB = make_bomb()
BR_BOMB = brotli.compress(bytes(64 << 20), quality=5)

ROUTES: dict[str, Route] = {
    "/utf8": page(200, UTF8_BODY, ("Content-Type", "text/html; charset=UTF-8"), ("X-Evidence", "one"), ("X-Evidence", "two")),
    "/cp1251": page(200, CP1251_BODY, ("Content-Type", "text/html; charset=windows-1251")),
    "/r301": redirect(301, "/r302"),
    "/r302": redirect(302, "/final"),
    "/final": page(200, b"final page", ("Content-Type", "text/plain; charset=utf-8")),
    "/dir/sub/rel": redirect(302, "../other/target?x=1"),
    "/dir/other/target?x=1": page(200, b"relative ok", ("Content-Type", "text/plain")),
    "/loop-a": redirect(302, "/loop-b"),
    "/loop-b": redirect(302, "/loop-a"),
    "/to-unspecified": lambda h: (302, [("Location", f"http://0.0.0.0:{h.server.server_address[1]}/utf8")], b""),
    "/to-ftp": redirect(302, "ftp://127.0.0.1/file"),
    "/404": page(404, b"no such page", ("Content-Type", "text/plain")),
    "/410": page(410, b"removed", ("Content-Type", "text/plain")),
    "/500": page(500, b"oops"),
    "/503": page(503, b"later", ("Retry-After", "60")),
    "/403": page(403, b"forbidden"),
    "/401": page(401, b"who are you"),
    "/429": page(429, b"slow down"),
    "/gzip": page(200, GZ, ("Content-Type", "text/plain"), ("Content-Encoding", "gzip")),
    "/multigzip": page(200, MULTI_GZ, ("Content-Type", "text/plain"), ("Content-Encoding", "gzip")),
    "/bomb": page(200, BOMB, ("Content-Type", "text/plain"), ("Content-Encoding", "gzip")),
    "/br": page(200, brotli.compress(PLAIN), ("Content-Type", "text/plain"), ("Content-Encoding", "br")),
    "/brbomb": page(200, BR_BOMB, ("Content-Type", "text/plain"), ("Content-Encoding", "br")),
    "/deflate-zlib": page(200, zlib.compress(PLAIN), ("Content-Encoding", "deflate")),
    "/deflate-raw": page(200, zlib.compress(PLAIN, wbits=-15), ("Content-Encoding", "deflate")),
    "/stacked": page(200, brotli.compress(gzip.compress(PLAIN)), ("Content-Encoding", "gzip, br")),
    "/identity": page(200, PLAIN, ("Content-Encoding", "identity")),
    "/zstd": page(200, b"(\xb5/\xfd whatever", ("Content-Encoding", "zstd")),
    "/gzip-garbage": page(200, GZ + b"trailing garbage", ("Content-Encoding", "gzip")),
    "/gzip-truncated": page(200, GZ[:-20], ("Content-Encoding", "gzip")),
    "/pdf-as-html": page(200, PDF_BODY, ("Content-Type", "text/html; charset=utf-8")),
    "/echo-ua": lambda h: (200, [("Content-Type", "text/plain")], (h.headers.get("User-Agent") or "").encode()),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.server.seen.append((self.path, list(self.headers.items())))  # type: ignore[attr-defined]
        route = ROUTES.get(self.path)
        if route is None and self.path.startswith("/chain/"):
            route = chain
        if route is None and self.path.startswith("/count/"):
            route = count_down
        status, headers, body = route(self) if route else (404, [], b"unknown route")
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.seen = []  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def base(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(handle: Callable[[socket.socket], None]) -> RawServer:
        s = RawServer(handle)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop.set()
    for s in servers:
        s.close()


# --------------------------------------------------------------------------
# Pages, headers, bytes
# --------------------------------------------------------------------------


def test_utf8_page_with_headers_recorded(base: str, server: ThreadingHTTPServer) -> None:
    r = fetch(f"{base}/utf8", cfg())
    assert isinstance(r, FetchResult)
    assert r.status == 200
    assert r.body == UTF8_BODY
    assert r.final_url == f"{base}/utf8"
    assert (r.declared_type, r.charset, r.media_type) == ("text/html", "utf-8", "text/html")
    assert r.proxy_used is False
    assert r.tool.startswith("khronika/0.1.0 httpx/")
    assert ISO_Z.match(r.fetched_at)
    (hop,) = r.hops
    assert hop.url == f"{base}/utf8"
    assert hop.method == "GET"
    assert (hop.http_version, hop.status, hop.reason) == ("HTTP/1.1", 200, "OK")
    assert hop.ip == "127.0.0.1"
    assert hop.port == server.server_address[1]
    assert hop.tls is None
    assert ISO_Z.match(hop.started_at)
    assert hop.body_raw == UTF8_BODY
    names = [k for k, _ in hop.response_headers]
    assert names == ["Server", "Date", "Content-Type", "X-Evidence", "X-Evidence", "Content-Length"]
    assert ("Content-Type", "text/html; charset=UTF-8") in hop.response_headers
    assert [v for k, v in hop.response_headers if k == "X-Evidence"] == ["one", "two"]
    sent = dict(hop.request_headers)
    assert sent["Host"] == f"127.0.0.1:{server.server_address[1]}"
    assert sent["User-Agent"] == "Khronika/0.1.0 (+archive)"
    assert sent["Accept-Encoding"] == "gzip, deflate, br"
    # What we recorded is what the server received, in order.
    path, received = server.seen[-1]
    assert path == "/utf8"
    assert [k.lower() for k, _ in received] == [k.lower() for k, _ in hop.request_headers]


def test_windows_1251_bytes_preserved(base: str) -> None:
    r = fetch(f"{base}/cp1251", cfg())
    assert r.body == CP1251_BODY
    assert r.hops[0].body_raw == CP1251_BODY
    assert r.charset == "windows-1251"
    assert r.media_type == "text/html"


def test_user_agent_sent_on_every_hop(base: str, server: ThreadingHTTPServer) -> None:
    config = cfg()
    config.user_agent = "Khronika-test/9 (+evidence)"
    r = fetch(f"{base}/echo-ua", config)
    assert r.body == b"Khronika-test/9 (+evidence)"
    before = len(server.seen)
    r = fetch(f"{base}/r301", config)
    assert len(r.hops) == 3
    for hop in r.hops:
        assert dict(hop.request_headers)["User-Agent"] == "Khronika-test/9 (+evidence)"
    for _, headers in server.seen[before:]:
        assert dict(headers)["User-Agent"] == "Khronika-test/9 (+evidence)"


def test_pdf_served_as_html_is_sniffed(base: str) -> None:
    r = fetch(f"{base}/pdf-as-html", cfg())
    assert r.declared_type == "text/html"
    assert r.media_type == "application/pdf"
    assert r.body == PDF_BODY


# --------------------------------------------------------------------------
# Redirects
# --------------------------------------------------------------------------


def test_redirect_chain_records_every_hop(base: str) -> None:
    r = fetch(f"{base}/r301", cfg())
    assert [h.status for h in r.hops] == [301, 302, 200]
    assert [h.url for h in r.hops] == [f"{base}/r301", f"{base}/r302", f"{base}/final"]
    assert r.final_url == f"{base}/final"
    assert r.body == b"final page"
    assert r.hops[0].body_raw == b"moved"  # small redirect bodies are kept
    assert ("Location", "/r302") in r.hops[0].response_headers
    assert all(h.ip == "127.0.0.1" for h in r.hops)


def test_relative_redirect_is_resolved(base: str) -> None:
    r = fetch(f"{base}/dir/sub/rel", cfg())
    assert r.final_url == f"{base}/dir/other/target?x=1"
    assert r.body == b"relative ok"


def test_redirect_loop_refused(base: str) -> None:
    e = failure(f"{base}/loop-a")
    assert e.outcome == "refused"
    assert e.reason == f"redirect loop: {base}/loop-a was already fetched at hop 1"
    assert [h.url for h in e.hops] == [f"{base}/loop-a", f"{base}/loop-b"]


def test_too_many_redirects_refused(base: str) -> None:
    e = failure(f"{base}/chain/0", cfg(max_redirects=3))
    assert e.outcome == "refused"
    assert e.reason == f"more than 3 redirects (limit --max-redirects); last redirect at {base}/chain/3"
    assert len(e.hops) == 4


def test_exactly_max_redirects_is_fine(base: str) -> None:
    r = fetch(f"{base}/count/3", cfg(max_redirects=3))
    assert len(r.hops) == 4
    assert r.body == b"landed"


def test_redirect_to_refused_address_is_checked_per_hop(base: str, server: ThreadingHTTPServer) -> None:
    # 0.0.0.0 is refused even with allow_private; nothing leaves the host either way.
    e = failure(f"{base}/to-unspecified")
    port = server.server_address[1]
    assert e.outcome == "refused"
    assert e.reason == f"unspecified address 0.0.0.0 refused at http://0.0.0.0:{port}/utf8"
    assert [h.status for h in e.hops] == [302]


def test_redirect_to_other_scheme_refused(base: str) -> None:
    e = failure(f"{base}/to-ftp")
    assert e.outcome == "refused"
    assert e.reason == f"redirect to a non-http(s) URL: ftp://127.0.0.1/file (from {base}/to-ftp)"
    assert len(e.hops) == 1


# --------------------------------------------------------------------------
# Statuses and network failures
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, outcome, reason, body",
    [
        ("/404", "gone", "HTTP 404 Not Found", b"no such page"),
        ("/410", "gone", "HTTP 410 Gone", b"removed"),
        ("/500", "unreachable", "HTTP 500 Internal Server Error", b"oops"),
        ("/503", "unreachable", "HTTP 503 Service Unavailable", b"later"),
        ("/403", "failed", "HTTP 403 Forbidden", b"forbidden"),
        ("/401", "failed", "HTTP 401 Unauthorized", b"who are you"),
        ("/429", "failed", "HTTP 429 Too Many Requests", b"slow down"),
    ],
)
def test_error_statuses(base: str, path: str, outcome: str, reason: str, body: bytes) -> None:
    e = failure(f"{base}{path}")
    assert e.outcome == outcome
    assert e.reason == f"{reason} at {base}{path}"
    (hop,) = e.hops  # the error response is evidence too
    assert hop.status == int(path[1:])
    assert hop.body_raw == body


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connection_refused_is_unreachable() -> None:
    port = closed_port()
    e = failure(f"http://127.0.0.1:{port}/")
    assert e.outcome == "unreachable"
    assert e.reason.startswith("connection failed (")
    assert "Connection refused" in e.reason
    assert e.reason.endswith(f" at http://127.0.0.1:{port}/")
    assert e.hops == []


def test_private_address_refused_before_any_request(base: str, server: ThreadingHTTPServer) -> None:
    before = len(server.seen)
    config = FetchConfig(limits=small_limits(), allow_private=False)
    e = failure(f"{base}/utf8", config)
    assert e.outcome == "refused"
    assert e.reason == f"loopback address 127.0.0.1 refused; {HINT} at {base}/utf8"
    port = server.server_address[1]
    e = failure(f"http://localhost:{port}/utf8", config)
    assert e.outcome == "refused"
    assert e.reason.startswith("loopback address ")
    assert e.reason.endswith(f"refused; {HINT} (resolved from localhost) at http://localhost:{port}/utf8")
    assert len(server.seen) == before  # the server never saw a request


def test_allow_private_from_environment(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHRONIKA_ALLOW_PRIVATE", "1")
    r = fetch(f"{base}/utf8", FetchConfig(limits=small_limits()))
    assert r.body == UTF8_BODY


# --------------------------------------------------------------------------
# Content-Encoding
# --------------------------------------------------------------------------


def test_gzip_decoded_and_raw_kept(base: str) -> None:
    r = fetch(f"{base}/gzip", cfg())
    assert r.body == PLAIN
    assert r.hops[0].body_raw == GZ
    assert ("Content-Encoding", "gzip") in r.hops[0].response_headers


def test_multi_member_gzip_decoded_completely(base: str) -> None:
    r = fetch(f"{base}/multigzip", cfg())
    assert r.body == MULTI_A + MULTI_B
    assert r.hops[0].body_raw == MULTI_GZ


def test_gzip_bomb_refused_without_memory_blowup(base: str) -> None:
    config = cfg(max_body=2 * 2**20, max_decoded=2**20)
    tracemalloc.start()
    try:
        e = failure(f"{base}/bomb", config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.outcome == "refused"
    assert e.reason == f"decoded body exceeds 1048576 bytes (limit --max-decoded) at {base}/bomb"
    assert peak < 24 * 2**20, peak  # 1 GiB of zeros was never materialised


def test_brotli_decoded(base: str) -> None:
    r = fetch(f"{base}/br", cfg())
    assert r.body == PLAIN
    assert r.hops[0].body_raw == brotli.compress(PLAIN)


def test_brotli_bomb_refused(base: str) -> None:
    e = failure(f"{base}/brbomb", cfg(max_decoded=2**20))
    assert e.outcome == "refused"
    assert e.reason == f"decoded body exceeds 1048576 bytes (limit --max-decoded) at {base}/brbomb"


@pytest.mark.parametrize("path", ["/deflate-zlib", "/deflate-raw", "/stacked", "/identity"])
def test_other_encodings_decoded(base: str, path: str) -> None:
    assert fetch(f"{base}{path}", cfg()).body == PLAIN


def test_unknown_encoding_refused(base: str) -> None:
    e = failure(f"{base}/zstd")
    assert e.outcome == "refused"
    assert e.reason == f"unsupported Content-Encoding 'zstd' at {base}/zstd"


def test_garbled_gzip_refused(base: str) -> None:
    e = failure(f"{base}/gzip-garbage")
    assert e.outcome == "refused"
    assert e.reason == (
        f"gzip body cannot be decoded completely (16 bytes of garbage after gzip member 1) "
        f"at {base}/gzip-garbage"
    )
    e = failure(f"{base}/gzip-truncated")
    assert e.outcome == "refused"
    assert e.reason == (
        f"gzip body cannot be decoded completely (gzip member 1 is incomplete) at {base}/gzip-truncated"
    )


# --------------------------------------------------------------------------
# Misbehaving servers
# --------------------------------------------------------------------------


def test_endless_chunked_body_refused_at_max_body(raw: Callable[..., RawServer]) -> None:
    def endless(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 4096
        while True:
            conn.sendall(b"1000\r\n" + chunk + b"\r\n")

    s = raw(endless)
    e = failure(f"{s.url}/big")
    assert e.outcome == "refused"
    assert e.reason == f"body exceeds 65536 bytes (limit --max-body) at {s.url}/big"
    assert e.hops == []  # an incomplete response is not evidence of anything


def test_huge_redirect_body_is_dropped_not_truncated(raw: Callable[..., RawServer]) -> None:
    def handle(conn: socket.socket) -> None:
        req = read_request(conn)
        if req.startswith(b"GET /landing "):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\narrived")
            return
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /landing\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            conn.sendall(b"1000\r\n" + b"r" * 4096 + b"\r\n")

    s = raw(handle)
    r = fetch(f"{s.url}/start", cfg())
    assert [h.status for h in r.hops] == [302, 200]
    assert r.hops[0].body_raw == b""  # too large to keep whole, so not kept at all
    assert r.body == b"arrived"


def test_close_delimited_body_over_limit_refused(raw: Callable[..., RawServer]) -> None:
    def flood(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        conn.sendall(b"y" * 200_000)

    s = raw(flood)
    e = failure(f"{s.url}/flood")
    assert e.outcome == "refused"
    assert e.reason == f"body exceeds 65536 bytes (limit --max-body) at {s.url}/flood"


def test_content_length_longer_than_body_not_stored(raw: Callable[..., RawServer]) -> None:
    def short(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a little")

    s = raw(short)
    e = failure(f"{s.url}/short")
    assert e.outcome == "unreachable"
    assert e.reason.startswith("transfer broken (")
    assert e.reason.endswith(f" at {s.url}/short")
    assert e.hops == []


def test_content_length_shorter_than_body_is_what_counts(raw: Callable[..., RawServer]) -> None:
    # A Content-Length smaller than what is sent ends the message there; the
    # rest is not part of this response and cannot be used to slip past limits.
    def lying(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello")
        conn.sendall(b" world" + b"z" * 200_000)

    s = raw(lying)
    r = fetch(f"{s.url}/lying", cfg())
    assert r.body == b"hello"
    assert ("Content-Length", "5") in r.hops[0].response_headers


def test_small_lying_content_length_does_not_lift_max_body(raw: Callable[..., RawServer]) -> None:
    # Content-Length is ignored for enforcement: a chunked body over the limit
    # with a tiny (conflicting) Content-Length is still cut off or rejected.
    def conflicting(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(100):
            conn.sendall(b"1000\r\n" + b"q" * 4096 + b"\r\n")
        conn.sendall(b"0\r\n\r\n")

    s = raw(conflicting)
    e = failure(f"{s.url}/conflict")
    assert e.outcome == "refused"
    assert e.reason == f"body exceeds 65536 bytes (limit --max-body) at {s.url}/conflict"
    assert e.hops == []


def test_slow_drip_cut_off_by_total_timeout(raw: Callable[..., RawServer]) -> None:
    def drip(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            conn.sendall(b".")
            time.sleep(0.2)

    s = raw(drip)
    started = time.monotonic()
    e = failure(f"{s.url}/drip", cfg(total_timeout=1.0))
    elapsed = time.monotonic() - started
    assert e.outcome == "unreachable"
    assert e.reason == f"fetch took longer than 1 s (limit --total-timeout) at {s.url}/drip"
    assert elapsed < 2.0


def test_silent_server_cut_off_by_read_timeout(raw: Callable[..., RawServer]) -> None:
    def stall(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        time.sleep(3)

    s = raw(stall)
    e = failure(f"{s.url}/stall", cfg(read_timeout=0.3))
    assert e.outcome == "unreachable"
    assert e.reason == f"no data for 0.3 s (limit --read-timeout) at {s.url}/stall"


# --------------------------------------------------------------------------
# URL policy
# --------------------------------------------------------------------------


def test_very_long_url_refused(base: str) -> None:
    url = f"{base}/" + "a" * 100_000
    e = failure(url, cfg(max_url_length=8192))
    assert e.outcome == "refused"
    assert e.reason == (
        f"URL is {len(url)} characters long, over 8192 (limit --max-url-length): {url[:100]}..."
    )


@pytest.mark.parametrize(
    "url, scheme",
    [("ftp://127.0.0.1/file", "ftp"), ("file:///etc/passwd", "file"), ("gopher://127.0.0.1/", "gopher")],
)
def test_non_http_schemes_refused(url: str, scheme: str) -> None:
    e = failure(url)
    assert e.outcome == "refused"
    assert e.reason == f"unsupported URL scheme {scheme!r} (only http and https) at {url}"


# --------------------------------------------------------------------------
# Address policy (no traffic)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ip, strict, relaxed",
    [
        ("8.8.8.8", None, None),
        ("2606:4700:4700::1111", None, None),
        ("127.0.0.1", f"loopback address 127.0.0.1 refused; {HINT}", None),
        ("127.8.9.10", f"loopback address 127.8.9.10 refused; {HINT}", None),
        ("::1", f"loopback address ::1 refused; {HINT}", None),
        ("10.0.0.1", f"private address 10.0.0.1 refused; {HINT}", None),
        ("172.16.0.1", f"private address 172.16.0.1 refused; {HINT}", None),
        ("172.31.255.255", f"private address 172.31.255.255 refused; {HINT}", None),
        ("192.168.1.1", f"private address 192.168.1.1 refused; {HINT}", None),
        ("fd12:3456::1", f"private address fd12:3456::1 refused; {HINT}", None),
        ("100.64.0.1", f"shared (CGNAT) address 100.64.0.1 refused; {HINT}", None),
        ("::ffff:10.0.0.1", f"private address ::ffff:10.0.0.1 (IPv4 10.0.0.1) refused; {HINT}", None),
        ("::ffff:127.0.0.1", f"loopback address ::ffff:127.0.0.1 (IPv4 127.0.0.1) refused; {HINT}", None),
        ("169.254.169.254", "cloud metadata address 169.254.169.254 refused", "cloud metadata address 169.254.169.254 refused"),
        ("169.254.170.2", "cloud metadata address 169.254.170.2 refused", "cloud metadata address 169.254.170.2 refused"),
        ("fd00:ec2::254", "cloud metadata address fd00:ec2::254 refused", "cloud metadata address fd00:ec2::254 refused"),
        ("100.100.100.200", "cloud metadata address 100.100.100.200 refused", "cloud metadata address 100.100.100.200 refused"),
        ("169.254.1.1", "link-local address 169.254.1.1 refused", "link-local address 169.254.1.1 refused"),
        ("fe80::1", "link-local address fe80::1 refused", "link-local address fe80::1 refused"),
        ("fe80::1%eth0", "link-local address fe80::1%eth0 refused", "link-local address fe80::1%eth0 refused"),
        (
            "::ffff:169.254.169.254",
            "cloud metadata address ::ffff:169.254.169.254 (IPv4 169.254.169.254) refused",
            "cloud metadata address ::ffff:169.254.169.254 (IPv4 169.254.169.254) refused",
        ),
        (
            "64:ff9b::a9fe:a9fe",
            "cloud metadata address 64:ff9b::a9fe:a9fe (IPv4 169.254.169.254) refused",
            "cloud metadata address 64:ff9b::a9fe:a9fe (IPv4 169.254.169.254) refused",
        ),
        ("2002:a00:1::", f"private address 2002:a00:1:: (IPv4 10.0.0.1) refused; {HINT}", None),
        ("0.0.0.0", "unspecified address 0.0.0.0 refused", "unspecified address 0.0.0.0 refused"),
        ("::", "unspecified address :: refused", "unspecified address :: refused"),
        ("224.0.0.1", "multicast address 224.0.0.1 refused", "multicast address 224.0.0.1 refused"),
        ("ff02::1", "multicast address ff02::1 refused", "multicast address ff02::1 refused"),
        ("240.0.0.1", "reserved address 240.0.0.1 refused", "reserved address 240.0.0.1 refused"),
        ("255.255.255.255", "reserved address 255.255.255.255 refused", "reserved address 255.255.255.255 refused"),
        ("192.0.2.1", "reserved address 192.0.2.1 refused", "reserved address 192.0.2.1 refused"),
        ("2001:db8::1", "reserved address 2001:db8::1 refused", "reserved address 2001:db8::1 refused"),
        ("not-an-ip", "not an IP address: 'not-an-ip' refused", "not an IP address: 'not-an-ip' refused"),
    ],
)
def test_check_address(ip: str, strict: str | None, relaxed: str | None) -> None:
    assert check_address(ip, allow_private=False) == strict
    assert check_address(ip, allow_private=True) == relaxed


def fake_resolver(*ips: str) -> Callable[..., list]:
    def resolve(host: str, port: int, **kw: object) -> list:
        out = []
        for ip in ips:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            addr = (ip, port, 0, 0) if fam == socket.AF_INET6 else (ip, port)
            out.append((fam, socket.SOCK_STREAM, 6, "", addr))
        return out

    return resolve


def test_resolver_decision_refuses_metadata_names() -> None:
    with pytest.raises(AddressRefused) as info:
        resolve_allowed("metadata.example", 80, True, 1.0, fake_resolver("169.254.169.254"))
    assert str(info.value) == "cloud metadata address 169.254.169.254 refused (resolved from metadata.example)"


def test_resolver_decision_keeps_only_allowed_candidates() -> None:
    got = resolve_allowed(
        "mixed.example", 443, False, 1.0, fake_resolver("10.1.2.3", "93.184.215.14", "fe80::1", "2606:4700::1")
    )
    assert got == ["93.184.215.14", "2606:4700::1"]
    got = resolve_allowed("mixed.example", 443, True, 1.0, fake_resolver("10.1.2.3", "169.254.169.254"))
    assert got == ["10.1.2.3"]


def test_resolver_failure_is_reported() -> None:
    def broken(host: str, port: int, **kw: object) -> list:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ResolveFailed) as info:
        resolve_allowed("gone.example", 80, False, 1.0, broken)
    assert str(info.value) == "DNS lookup failed for gone.example: [Errno -2] Name or service not known"


def test_resolver_decision_on_real_localhost() -> None:
    with pytest.raises(AddressRefused) as info:
        resolve_allowed("localhost", 80, False, 2.0)
    assert str(info.value).startswith("loopback address ")
    assert str(info.value).endswith(f"refused; {HINT} (resolved from localhost)")
    assert "127.0.0.1" in resolve_allowed("localhost", 80, True, 2.0) or "::1" in resolve_allowed(
        "localhost", 80, True, 2.0
    )


# --------------------------------------------------------------------------
# Proxies (local fake proxies; the target name is never resolved locally)
# --------------------------------------------------------------------------


def test_http_proxy_resolves_names(raw: Callable[..., RawServer]) -> None:
    def proxy(conn: socket.socket) -> None:
        req = read_request(conn)
        s.received.append(req)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nproxied")

    s = raw(proxy)
    config = FetchConfig(limits=small_limits(), proxy=s.url)  # allow_private stays off
    r = fetch("http://khronika-test.invalid/page", config)
    assert r.body == b"proxied"
    assert r.proxy_used is True
    assert r.hops[0].ip is None and r.hops[0].port is None
    assert s.received[0].startswith(b"GET http://khronika-test.invalid/page HTTP/1.1\r\n")


def test_socks5_proxy_gets_the_name_not_an_address(raw: Callable[..., RawServer]) -> None:
    def socks(conn: socket.socket) -> None:
        greeting = conn.recv(3)
        assert greeting[0] == 5
        conn.sendall(b"\x05\x00")
        head = conn.recv(4)
        assert head[:2] == b"\x05\x01"
        atyp = head[3]
        if atyp == 3:
            n = conn.recv(1)[0]
            target = conn.recv(n)
        else:
            target = conn.recv(4 if atyp == 1 else 16)
        port = conn.recv(2)
        s.received.append(bytes([atyp]) + target + port)
        conn.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50")
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsocks")

    s = raw(socks)
    config = FetchConfig(limits=small_limits(), proxy=f"socks5://127.0.0.1:{s.port}")
    r = fetch("http://khronika-socks.invalid/x", config)
    assert r.body == b"socks"
    assert r.proxy_used is True
    assert r.hops[0].ip is None
    assert s.received == [b"\x03khronika-socks.invalid\x00\x50"]


def test_proxy_does_not_bypass_literal_address_policy(raw: Callable[..., RawServer]) -> None:
    s = raw(lambda conn: s.received.append(read_request(conn)))
    config = FetchConfig(limits=small_limits(), proxy=s.url)
    e = failure("http://10.0.0.1/internal", config)
    assert e.outcome == "refused"
    assert e.reason == f"private address 10.0.0.1 refused; {HINT} at http://10.0.0.1/internal"
    assert s.received == []


# --------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, declared, expected",
    [
        (PDF_BODY, "text/html", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "text/html", "image/png"),
        (b"\xff\xd8\xff\xe0....", None, "image/jpeg"),
        (b"GIF89a....", "application/octet-stream", "image/gif"),
        (b"\x1f\x8b\x08\x00", None, "application/gzip"),
        (b"PK\x03\x04....", None, "application/zip"),
        (b"PK\x03\x04....", "application/epub+zip", "application/epub+zip"),
        (b"PK\x03\x04....", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"\xef\xbb\xbf  \n<!DOCTYPE HTML><html>", "application/json", "text/html"),
        (b"<!-- hi --><?xml version='1.0'?>\n<html lang=ru>", None, "text/html"),
        (b"<head><title>x</title>", "text/plain", "text/html"),
        (b"<BODY>x", None, "text/html"),
        (b"<htmlish>", None, "text/plain"),
        (b'{"a": 1}', "application/json", "application/json"),
        ("простой текст".encode(), None, "text/plain"),
        ("простой текст".encode(), "application/octet-stream", "text/plain"),
        (b"text\x00with nul", None, "application/octet-stream"),
        (b"\xff\xfe\xfa binary", None, "application/octet-stream"),
        (b"", None, "application/octet-stream"),
        (b"<html>", "application/xhtml+xml", "application/xhtml+xml"),
    ],
)
def test_sniff_media_type(data: bytes, declared: str | None, expected: str) -> None:
    assert sniff_media_type(data, declared) == expected


# --------------------------------------------------------------------------
# TLS (a self-signed certificate for 127.0.0.1, made by the test)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, bytes]]:
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "khronika-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    cert_pem, key_pem = d / "cert.pem", d / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.seen = []  # type: ignore[attr-defined]
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{srv.server_address[1]}", str(cert_pem), cert.public_bytes(serialization.Encoding.DER)
    srv.shutdown()
    srv.server_close()


def test_tls_details_recorded(tls_server: tuple[str, str, bytes]) -> None:
    import base64
    import hashlib

    url, ca_file, der = tls_server
    config = cfg()
    config.ca_file = ca_file
    r = fetch(f"{url}/utf8", config)
    assert r.body == UTF8_BODY
    tls = r.hops[0].tls
    assert tls is not None
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["cipher"]
    assert tls["cert_sha256"] == hashlib.sha256(der).hexdigest()
    assert base64.b64decode(tls["cert_der_b64"]) == der
    assert tls["subject"] == "commonName=khronika-test"
    assert tls["issuer"] == "commonName=khronika-test"
    assert tls["not_after"].endswith("GMT")
    assert r.hops[0].ip == "127.0.0.1"


def test_untrusted_certificate_is_unreachable(tls_server: tuple[str, str, bytes]) -> None:
    url, _, _ = tls_server
    e = failure(f"{url}/utf8")
    assert e.outcome == "unreachable"
    assert e.reason.startswith("TLS error (")
    assert "CERTIFICATE_VERIFY_FAILED" in e.reason
    assert e.reason.endswith(f" at {url}/utf8")


# --------------------------------------------------------------------------
# Decoding properties (no network)
# --------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ingest.capture.fetch import decode_body  # noqa: E402

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.binary(max_size=3000), min_size=1, max_size=5),
    limit=st.integers(min_value=0, max_value=16000),
)
def test_gzip_members_all_decoded_and_limit_exact(parts: list[bytes], limit: int) -> None:
    raw = b"".join(gzip.compress(p) for p in parts)
    whole = b"".join(parts)
    if len(whole) <= limit:
        assert decode_body(raw, ["gzip"], limit, "u") == whole
    else:
        with pytest.raises(FetchFailed) as info:
            decode_body(raw, ["gzip"], limit, "u")
        assert info.value.reason == f"decoded body exceeds {limit} bytes (limit --max-decoded) at u"


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5000) | st.integers(0, 50_000).map(lambda n: b"\x00" * n),
    codings=st.lists(st.sampled_from(sorted(ENCODERS)), min_size=1, max_size=3),
    limit=st.integers(min_value=0, max_value=60_000),
)
def test_stacked_encodings_roundtrip(data: bytes, codings: list[str], limit: int) -> None:
    raw = data
    for c in codings:
        raw = ENCODERS[c](raw)
    # Every decoding stage is held to the limit, so each intermediate must fit.
    staged, sizes = data, [len(data)]
    for c in codings[:-1]:
        staged = ENCODERS[c](staged)
        sizes.append(len(staged))
    if all(n <= limit for n in sizes):
        assert decode_body(raw, codings, limit, "u") == data
    else:
        with pytest.raises(FetchFailed) as info:
            decode_body(raw, codings, limit, "u")
        assert info.value.outcome == "refused"


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_trailing_garbage_and_truncation_refused(coding: str) -> None:
    good = ENCODERS[coding](PLAIN)
    for bad in (good + b"junk!", good[: len(good) // 2]):
        with pytest.raises(FetchFailed) as info:
            decode_body(bad, [coding], 10**6, "u")
        assert info.value.outcome == "refused"
        assert info.value.reason.startswith(f"{coding} body cannot be decoded completely (")


# --------------------------------------------------------------------------
# Credentials, framing and statuses that are not the page (issue 13)
# --------------------------------------------------------------------------


def test_a_url_with_credentials_is_refused_before_anything_is_sent(raw) -> None:  # type: ignore[no-untyped-def]
    seen: list[bytes] = []
    srv = raw(lambda conn: seen.append(read_request(conn)))
    e = failure(f"http://admin:hunter2@127.0.0.1:{srv.port}/x")
    assert (e.outcome, e.reason, e.hops) == (
        "refused", f"URL carries credentials (user:password@): http://admin:***@127.0.0.1:{srv.port}/x", [])
    time.sleep(0.3)
    assert seen == []


def test_a_proxy_url_is_never_repeated_with_its_password() -> None:
    e = failure("http://127.0.0.1:9/x", FetchConfig(proxy="ftp://u:pw-secret@127.0.0.1:1", allow_private=True))
    assert (e.outcome, e.reason) == (
        "refused", "unsupported proxy 'ftp://u:***@127.0.0.1:1'; use http://, https://, socks5:// or socks5h://")


def _answer(head: str, body: bytes = b"") -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return handle


@pytest.mark.parametrize("head,outcome,reason", [
    ("HTTP/1.1 206 Partial Content\nContent-Range: bytes 0-3/10\nContent-Length: 4\n", "refused",
     "HTTP 206 Partial Content (Content-Range: bytes 0-3/10): only part of the body was sent, never recorded as the "
     "page, at {url}"),
    ("HTTP/1.1 206 Partial Content\nContent-Length: 4\n", "refused",
     "HTTP 206 Partial Content (Content-Range: no Content-Range): only part of the body was sent, never recorded as "
     "the page, at {url}"),
    ("HTTP/1.1 204 No Content\n", "failed", "HTTP 204 No Content: the server sent no content at {url}"),
    ("HTTP/1.1 205 Reset Content\nContent-Length: 0\n", "failed", "HTTP 205 Reset Content: the server sent no content at {url}"),
    ("HTTP/1.1 202 Accepted\nContent-Length: 4\n", "failed",
     "HTTP 202 Accepted is not the page itself (only 200 and 203 are captured) at {url}"),
])
def test_statuses_that_are_not_the_whole_page_make_no_capture(raw, head: str, outcome: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    srv = raw(_answer(head, b"abcd" if "Length: 4" in head else b""))
    e = failure(f"{srv.url}/p")
    assert (e.outcome, e.reason, [h.status for h in e.hops]) == (outcome, reason.format(url=f"{srv.url}/p"),
                                                                  [int(head.split()[1])])


@pytest.mark.parametrize("head,completeness,note", [
    ("HTTP/1.1 200 OK\nContent-Length: 4\n", "checked", "Content-Length: 4 bytes received as announced"),
    ("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", "checked", "chunked: the last chunk was received"),
    ("HTTP/1.1 200 OK\nConnection: close\n", "unchecked",
     "close-delimited body (no Content-Length, not chunked): a connection cut short cannot be told from the end of the page"),
    ("HTTP/1.0 200 OK\n", "unchecked",
     "close-delimited body (no Content-Length, not chunked): a connection cut short cannot be told from the end of the page"),
])
def test_the_capture_says_whether_the_end_of_the_body_was_checked(raw, head: str, completeness: str, note: str) -> None:  # type: ignore[no-untyped-def]
    body = b"4\r\nabcd\r\n0\r\n\r\n" if "chunked" in head else b"abcd"
    srv = raw(_answer(head, body))
    r = fetch(f"{srv.url}/p", cfg())
    assert (r.body, r.completeness, r.completeness_note) == (b"abcd", completeness, note)


def test_a_redirect_to_mailto_keeps_the_redirect_hop(raw) -> None:  # type: ignore[no-untyped-def]
    # httpx raised InvalidURL here (not an HTTPError) while building the next request itself.
    srv = raw(_answer("HTTP/1.1 302 Found\nLocation: mailto:someone@example.org\nContent-Length: 0\n"))
    e = failure(f"{srv.url}/p")
    assert (e.outcome, e.reason, len(e.hops)) == (
        "refused", f"redirect to a non-http(s) URL: mailto:someone@example.org (from {srv.url}/p)", 1)


def test_request_headers_that_can_carry_a_secret_are_kept_by_name_only() -> None:
    from ingest.capture.hops import redact

    assert redact([("Host", "a"), ("authorization", "Basic YWRtaW46aHVudGVyMg=="), ("Proxy-Authorization", "Basic eA=="),
                   ("COOKIE", "sid=1"), ("Accept", "*/*")]) == [
        ("Host", "a"), ("authorization", "<redacted>"), ("Proxy-Authorization", "<redacted>"), ("COOKIE", "<redacted>"),
        ("Accept", "*/*")]
