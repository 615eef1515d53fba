"""The hostile suite: one `python -m ingest run` over sources built to hurt, each with its exact outcome.

Misbehaving servers are raw sockets in threads (bombs, endless and lying bodies, slow drips,
redirect loops, a lazily streamed 1 GB body); hostile documents are local files (malformed
and flate-bomb PDFs, 100k nested elements, 10^5 links, binary garbage, invalid UTF-8). The
batch must go on past every one of them; fetch failures leave an attempt and nothing else,
extraction failures keep the raw bytes and record the reason. The peak memory of the ingest
process tree is measured while the suite runs (see "Limits and hostile input" in the README).
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, RawServer, khronika, make_pdf, query, read_request

MAX_BODY = 2 * 2**20
MAX_DECODED = 4 * 2**20
LIMITS = ["--max-body", str(MAX_BODY), "--max-decoded", str(MAX_DECODED), "--timeout", "3", "--read-timeout", "2",
          "--connect-timeout", "2", "--max-redirects", "5", "--extract-cpu", "10", "--extract-memory", "512",
          # wall time well above the CPU limit: on a loaded machine the CPU limit must still be what stops links-html
          "--extract-timeout", "120"]


# -- hostile server ------------------------------------------------------------------------------


def _request_path(conn: socket.socket) -> str:
    data = read_request(conn)
    return data.split(b" ", 2)[1].decode() if data.count(b" ") >= 2 else "/"


def _deflate_zeros(mib: int, wrapper: str) -> bytes:
    """`mib` MiB of zeros compressed without ever holding them: repeat one fully flushed block."""
    zeros = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush()
    if wrapper == "gzip":
        crc = 0
        for _ in range(mib):
            crc = zlib.crc32(zeros, crc)
        head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        return head + block * mib + end + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)
    adler = 1
    for _ in range(mib):
        adler = zlib.adler32(zeros, adler)
    return b"\x78\xda" + block * mib + end + struct.pack(">I", adler)


GZIP_BOMB = _deflate_zeros(1024, "gzip")  # 1 GiB of zeros in about 1 MB


def _send(conn: socket.socket, head: str, body: bytes = b"") -> None:
    conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)


def _gzip_bomb(conn: socket.socket) -> None:
    _send(conn, f"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Encoding: gzip\nContent-Length: {len(GZIP_BOMB)}\n",
          GZIP_BOMB)


def _endless_chunked(conn: socket.socket) -> None:
    _send(conn, "HTTP/1.1 200 OK\nContent-Type: text/html\nTransfer-Encoding: chunked\n")
    chunk = b"1000\r\n" + b"<p>more</p>" * 372 + b"<br>\r\n"  # 0x1000 bytes each, for ever
    while True:
        conn.sendall(chunk)


def _slow_drip(conn: socket.socket) -> None:
    _send(conn, "HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 1000\n")
    for _ in range(1000):
        conn.sendall(b".")
        time.sleep(0.5)


def _redirect_loop(conn: socket.socket, path: str) -> None:
    nxt = "/loop-b" if path == "/loop-a" else "/loop-a"
    # The handler closes the socket after answering, so it says so: without `Connection: close` the
    # client may reuse the connection for the next hop and race the close (a reset, not a loop).
    _send(conn, f"HTTP/1.1 302 Found\nLocation: {nxt}\nContent-Length: 0\nConnection: close\n")


def _lying_length(conn: socket.socket) -> None:
    _send(conn, "HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 100000\nConnection: close\n",
          b"<html><body><p>only the start of what was promised</p>")


def _gigabyte(conn: socket.socket) -> None:
    _send(conn, f"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: {2**30}\n")
    block = b"gigabyte " * 7281 + b"1234567"  # 64 KiB, made once; the gigabyte never exists
    for _ in range(2**30 // len(block)):
        conn.sendall(block)


# Redirects whose Location is no http(s) page; httpx itself once raised on them and ended the run.
HOSTILE_LOCATIONS = {
    "/to-mailto": "mailto:x",
    "/to-data": "data:text/html,<p>hi</p>",
    "/to-javascript": "javascript:alert(1)",
    "/to-tel": "tel:+15550100",
    "/to-urn": "urn:x:y",
    "/to-about": "about:blank",
    "/to-http-no-slashes": "http:example.org",  # a relative reference to /example.org, as browsers read it
    "/to-credentials": "http://admin:hunter2@127.0.0.1:{port}/page",
}


def _hostile_redirect(conn: socket.socket, path: str) -> None:
    location = HOSTILE_LOCATIONS[path].format(port=conn.getsockname()[1])
    _send(conn, f"HTTP/1.1 302 Found\nLocation: {location}\nContent-Length: 0\nConnection: close\n")


def _partial(conn: socket.socket) -> None:
    _send(conn, "HTTP/1.1 206 Partial Content\nContent-Type: text/html\nContent-Range: bytes 0-119/100000\n"
                "Content-Length: 120\n", b"<html><body><p>" + b"x" * 105)


def _no_content(conn: socket.socket) -> None:
    _send(conn, "HTTP/1.1 204 No Content\n")


CLOSE_DELIMITED = ("<!doctype html><html><head><title>Cut</title></head><body><article><p>The court extended the "
                   "arrest by two months, the defence said after the hearing.</p><p>The hearing was closed to the "
                   "press, and the defence will appeal the decision.</p></article></body></html>").encode()


def _close_delimited(conn: socket.socket) -> None:
    # No Content-Length, not chunked: the body ends when the server closes the connection, which
    # looks exactly like a connection cut in the middle.
    _send(conn, "HTTP/1.1 200 OK\nContent-Type: text/html; charset=utf-8\nConnection: close\n", CLOSE_DELIMITED)


ROUTES: dict[str, Callable[..., None]] = {
    "/partial": _partial,
    "/no-content": _no_content,
    "/close-delimited": _close_delimited,
    "/gzip-bomb": _gzip_bomb,
    "/endless": _endless_chunked,
    "/drip": _slow_drip,
    "/lying-length": _lying_length,
    "/gigabyte": _gigabyte,
}


def serve_hostile(conn: socket.socket) -> None:
    path = _request_path(conn)
    if path.startswith("/loop-"):
        _redirect_loop(conn, path)
    elif path in HOSTILE_LOCATIONS:
        _hostile_redirect(conn, path)
    else:
        ROUTES.get(path, lambda c: _send(c, "HTTP/1.1 404 Not Found\nContent-Length: 0\n"))(conn)


# -- hostile documents ---------------------------------------------------------------------------


def pdf_with_stream(stream: bytes, filters: str = "/Filter /FlateDecode") -> bytes:
    """A one-page PDF whose content stream is `stream` (already encoded as `filters` says)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        f"<< /Length {len(stream)} {filters} >>\nstream\n".encode() + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_documents(folder: Path) -> None:
    docs = folder / "docs"
    docs.mkdir(parents=True)
    good_pdf = make_pdf(["Постановление суда", "Вторая страница"])
    (docs / "truncated.pdf").write_bytes(good_pdf[: len(good_pdf) // 2])
    (docs / "malformed.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\nendobj\n"
                                         b"trailer\n<< /Root 1 0 R >>\n%%EOF\n" + b"\x00\xff garbage " * 200)
    (docs / "flate-bomb.pdf").write_bytes(pdf_with_stream(_deflate_zeros(1024, "zlib")))
    nested = "<!doctype html><html><head><title>Nested</title></head><body>" + "<div>" * 100_000 + \
        "<p>Deep inside one hundred thousand elements the court decision is quoted in full.</p>" + \
        "</div>" * 100_000 + "</body></html>"
    (docs / "nested.html").write_text(nested, encoding="utf-8")
    links = "<!doctype html><html><head><title>Links</title></head><body><article>" + \
        "<p>A list of the court's decisions, published for the record of the hearings.</p>" + \
        "".join(f'<a href="/d/{i}">decision {i}</a> ' for i in range(100_000)) + "</article></body></html>"
    (docs / "links.html").write_text(links, encoding="utf-8")
    (docs / "garbage.html").write_bytes(os.urandom(256 * 1024).replace(b"<", b"\x00"))
    bad_utf8 = ('<!doctype html><html><head><meta charset="utf-8"><title>Битая кодировка</title></head><body><article>'
                "<p>Суд продлил арест студенту ещё на два месяца, сообщила защита после заседания.</p>"
                "<p>Заседание прошло в закрытом режиме, журналистов в зал не пустили.</p>"
                "</article></body></html>").encode()
    cut = bad_utf8.index("продлил".encode()) + 3  # in the middle of a two-byte letter
    (docs / "bad-utf8.html").write_bytes(bad_utf8[:cut] + b"\xff\xfe\xc3" + bad_utf8[cut:])
    (docs / "fine.txt").write_text("A plain note that should be archived whatever else happens.\n", encoding="utf-8")


LOCAL = ["truncated.pdf", "malformed.pdf", "flate-bomb.pdf", "nested.html", "links.html", "garbage.html",
         "bad-utf8.html", "fine.txt"]
REMOTE = ["gzip-bomb", "endless", "drip", "loop-a", "lying-length", "gigabyte", "partial", "no-content",
          *[p.lstrip("/") for p in HOSTILE_LOCATIONS], "close-delimited"]
CUT_QUOTE = "The court extended the arrest by two months"


def write_case(folder: Path, server: RawServer) -> Path:
    lines = ["case:", "  id: hostile", "  title: Hostile sources", "sources:"]
    for name in REMOTE:
        lines += [f"  - id: {name}", f"    url: {server.url}/{name}"]
    for name in LOCAL:
        lines += [f"  - id: {name.replace('.', '-')}", f"    path: docs/{name}"]
    lines += ["claims:", "  - id: cut", "    text: The arrest was extended.", "    citations:",
              "      - source: close-delimited", f"        quote: {CUT_QUOTE}", "        stance: supports"]
    case = folder / "hostile.yml"
    case.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return case


# -- memory -------------------------------------------------------------------------------------


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [p for p, pp in parents.items() if pp == pid]
    return total


def run_measured(args: list[str]) -> tuple[int, str, str, int, int]:
    """Run the CLI; return code, stdout, stderr, peak RSS of the process tree, largest single process."""
    proc = subprocess.Popen([sys.executable, "-m", "ingest", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "KHRONIKA_ALLOW_PRIVATE": "1"})
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out, err = proc.communicate(timeout=300)
    done.set()
    poller.join()
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return proc.returncode, out, err, peak, largest


# -- the suite ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("hostile")
    server = RawServer(serve_hostile, timeout=10)
    try:
        write_documents(folder)
        case = write_case(folder, server)
        archive = folder / "archive"
        began = time.monotonic()
        code, out, err, peak, largest = run_measured(["run", str(case), "--archive", str(archive), *LIMITS])
        took = time.monotonic() - began
        print(f"\nhostile suite: exit {code} in {took:.1f} s; peak RSS of the ingest process tree "
              f"{peak / 2**20:.0f} MiB, largest single process {largest / 2**20:.0f} MiB")
        return {"code": code, "out": out, "err": err, "archive": archive, "base": server.url, "peak": peak}
    finally:
        server.close()


def attempt(suite: dict, source: str) -> tuple[str, str | None]:
    rows = query(suite["archive"] / "archive.db",
                 "SELECT outcome, error FROM attempts WHERE source_id = ?", (f"hostile/{source}",))
    assert len(rows) == 1, rows
    return rows[0]


def extraction(suite: dict, source: str) -> tuple[str | None, str | None, int | None]:
    db = suite["archive"] / "archive.db"
    rows = query(db, "SELECT e.error, e.text, e.text_length FROM captures c JOIN extractions e ON e.blake3 = c.blake3 "
                     "WHERE c.source_id = ?", (f"hostile/{source}",))
    assert len(rows) == 1, rows
    return rows[0]


def url_of(suite: dict, name: str) -> str:
    return suite["base"] + "/" + name


FETCH_REFUSED = [
    ("gzip-bomb", "refused", f"decoded body exceeds {MAX_DECODED} bytes (limit --max-decoded) at {{url}}"),
    ("endless", "refused", f"body exceeds {MAX_BODY} bytes (limit --max-body) at {{url}}"),
    ("drip", "unreachable", "fetch took longer than 3 s (limit --total-timeout) at {url}"),
    ("loop-a", "refused", "redirect loop: {url} was already fetched at hop 1"),
    ("lying-length", "unreachable", "transfer broken (peer closed connection without sending complete message body "
                                    "(received 54 bytes, expected 100000)) at {url}"),
    ("gigabyte", "refused", f"body exceeds {MAX_BODY} bytes (limit --max-body) at {{url}}"),
    ("partial", "refused", "HTTP 206 Partial Content (Content-Range: bytes 0-119/100000): only part of the body was "
                           "sent, never recorded as the page, at {url}"),
    ("no-content", "failed", "HTTP 204 No Content: the server sent no content at {url}"),
    ("to-mailto", "refused", "redirect to a non-http(s) URL: mailto:x (from {url})"),
    ("to-data", "refused", "redirect to a non-http(s) URL: data:text/html,<p>hi</p> (from {url})"),
    ("to-javascript", "refused", "redirect to a non-http(s) URL: javascript:alert(1) (from {url})"),
    ("to-tel", "refused", "redirect to a non-http(s) URL: tel:+15550100 (from {url})"),
    ("to-urn", "refused", "redirect to a non-http(s) URL: urn:x:y (from {url})"),
    ("to-about", "refused", "redirect to a non-http(s) URL: about:blank (from {url})"),
    ("to-http-no-slashes", "gone", "HTTP 404 Not Found at {base}/example.org"),
    ("to-credentials", "refused", "redirect from {url}: URL carries credentials (user:password@): "
                                  "http://admin:***@127.0.0.1:{port}/page"),
]


@pytest.mark.parametrize("name,outcome,error", FETCH_REFUSED, ids=[r[0] for r in FETCH_REFUSED])
def test_hostile_server_gives_an_attempt_and_nothing_else(suite: dict, name: str, outcome: str, error: str) -> None:
    error = error.format(url=url_of(suite, name), base=suite["base"], port=suite["base"].rsplit(":", 1)[1])
    assert attempt(suite, name) == (outcome, error)
    db = suite["archive"] / "archive.db"
    assert query(db, "SELECT count(*) FROM captures WHERE source_id = ?", (f"hostile/{name}",)) == [(0,)]
    assert query(db, "SELECT count(*) FROM attempts WHERE source_id = ? AND blake3 IS NOT NULL", (f"hostile/{name}",)) == [(0,)]
    assert f"failed: hostile/{name}: {outcome}: {error}" in suite["err"]
    assert "hunter2" not in suite["err"] + suite["out"]


EXTRACTED = {
    # source: (the extraction's exact error, or None and the start of its text)
    "truncated-pdf": ("malformed PDF: PdfStreamError: Stream has ended unexpectedly", None),
    "malformed-pdf": ("malformed PDF: PdfReadError: startxref not found", None),
    # pypdf's own decompression limit stops the 1 GiB content stream long before the memory limit
    "flate-bomb-pdf": ("malformed PDF: text extraction failed on every page (LimitReachedError: Limit reached "
                       "while decompressing. 987717 bytes remaining.)", None),
    "nested-html": ("no text extracted (trafilatura found no main content)", None),
    # 10^5 links keep trafilatura busy past a 10 s CPU limit (about 13 s; it succeeds under the default 60 s):
    # the worker is stopped, the batch goes on
    "links-html": ("exceeded CPU limit of 10 s", None),
    "garbage-html": ("no text extracted (trafilatura found no main content)", None),
    # invalid bytes become U+FFFD; \xc3 and the orphaned second byte of "р" happen to make "À"
    "bad-utf8-html": (None, "Суд п\ufffd\ufffd\ufffdÀодлил арест студенту ещё на два месяца"),
    "fine-txt": (None, "A plain note that should be archived whatever else happens.\n"),
}


NESTED_INCOMPLETE = ("markup nested deeper than 255 levels: the HTML parser drops what lies below (and past 2047, where "
                     "every parse here stops); how much of the page's text is lost is not known")


@pytest.mark.parametrize("source", sorted(EXTRACTED))
def test_hostile_document_is_kept_and_its_extraction_ends_cleanly(suite: dict, source: str) -> None:
    error, phrase = EXTRACTED[source]
    # The sentence inside 100,000 elements is beyond every parse: the capture says its text is not all there.
    assert attempt(suite, source) == (("incomplete", NESTED_INCOMPLETE) if source == "nested-html" else ("captured", None))
    got_error, text, _ = extraction(suite, source)
    assert got_error == error
    if phrase is None:
        assert text is None
    else:
        assert text.startswith(phrase)
    b3 = query(suite["archive"] / "archive.db", "SELECT blake3 FROM captures WHERE source_id = ?", (f"hostile/{source}",))[0][0]
    assert (suite["archive"] / "files" / b3[:2] / b3).is_file()  # the raw bytes are kept either way


def test_the_batch_goes_on_and_lists_every_failure(suite: dict) -> None:
    assert suite["code"] == 1
    assert f"9 new capture(s), 0 unchanged, 0 kept without fetching, {len(FETCH_REFUSED)} failed, 0 wanted, 1 incomplete." in suite["err"]
    assert "Traceback" not in suite["err"]
    failures = sorted(line.split(":")[0] for line in suite["err"].splitlines() if line.startswith("extraction failed: "))
    assert len(failures) == sum(1 for e, _ in EXTRACTED.values() if e)
    assert suite["peak"] < 1024 * 2**20  # nothing was ever held whole: not the gigabyte, not the bombs


def test_a_100_kb_url_is_a_case_file_error(tmp_path: Path) -> None:
    url = "https://example.org/" + "a" * 100_000
    case = tmp_path / "long.yml"
    case.write_text(f"case:\n  id: long\n  title: Long\nsources:\n  - id: long\n    url: {url}\n", encoding="utf-8")
    result = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert result.code == 2
    assert result.err == (f"error: {case}:6: sources.0.url: longer than 8192 characters\n"
                          "1 case-file error(s); nothing was fetched or recorded.\n")
    assert not (tmp_path / "archive").exists()


UNCHECKED_NOTE = ("close-delimited body (no Content-Length, not chunked): a connection cut short cannot be told "
                  "from the end of the page")


def test_a_close_delimited_body_is_kept_with_its_completeness_unchecked(suite: dict) -> None:
    db = suite["archive"] / "archive.db"
    rows = query(db, "SELECT id, status, completeness, completeness_note FROM captures WHERE source_id = ?",
                 ("hostile/close-delimited",))
    assert [r[1:] for r in rows] == [(200, "unchecked", UNCHECKED_NOTE)]
    cid = rows[0][0]
    url = url_of(suite, "close-delimited")
    assert f"note: hostile/close-delimited: capture {cid} completeness unchecked: {UNCHECKED_NOTE}\n" in suite["err"]
    # Framed bodies say how their end was checked.
    assert query(db, "SELECT DISTINCT completeness, completeness_note FROM captures WHERE method = 'local_file' "
                     "AND source_id = 'hostile/fine-txt'") == [("checked", "regular file read to its end (60 bytes, "
                                                                            "as its size said)")]
    # The quote is there (a cut only removes words), so the claim is sourced, and says what was not checked.
    assert query(db, "SELECT status, status_reason FROM claims WHERE id = 'hostile/cut'") == [(
        "sourced", "all 1 supporting quote(s) present in archived captures; citation 1 (hostile/close-delimited): "
                   "its capture's completeness is unchecked (close-delimited body: a cut connection looks like the "
                   "end of the page)")]
    assert url in suite["err"]


def test_the_source_page_shows_an_unchecked_capture(suite: dict) -> None:
    import asyncio

    from test_web import make_datasette  # the real app, built as the site suite builds it

    ds = make_datasette(suite["archive"])
    page = asyncio.run(ds.client.get("/-/source/hostile/close-delimited")).text
    assert '<span class="unchecked">completeness unchecked</span>' in page
    assert f'<p class="gap completeness">Completeness unchecked: {UNCHECKED_NOTE}. The page may have been cut short; ' \
           "what is here was received, what may have followed was not.</p>" in page
    fine = asyncio.run(ds.client.get("/-/source/hostile/fine-txt")).text
    assert "Completeness unchecked" not in fine and "<span class=\"unchecked\">" not in fine


# -- a hostile re-run over an archive that holds good captures ---------------------------------


PAGE = ("<!doctype html><html><head><title>Statement</title></head><body><article><p>The statement of the "
        "defence was published on the court's own site after the hearing.</p></article></body></html>").encode()


def _switching_server(mode: dict[str, str]) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        path = _request_path(conn)
        if mode["page"] == "good" or path != "/page":
            _send(conn, f"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: {len(PAGE)}\n", PAGE)
        elif mode["page"] == "mailto":
            _send(conn, "HTTP/1.1 302 Found\nLocation: mailto:x\nContent-Length: 0\nConnection: close\n")
        elif mode["page"] == "partial":
            _partial(conn)
    return handle


def _library_run(case_file: Path, archive_dir: Path, swap: Callable[[], None] = lambda: None, **options: object):  # type: ignore[no-untyped-def]
    """Validate the case, let `swap` change the folder (as someone could while a run starts), then run."""
    from ingest.capture.fetch import FetchConfig
    from ingest.claims.cases import load_case
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    case = load_case(case_file, case_file.name)
    swap()
    fetch = options.pop("fetch", FetchConfig(allow_private=True))
    with Archive.open(archive_dir, create=True) as archive:
        return run([case], archive, RunOptions(fetch=fetch, **options))  # type: ignore[arg-type]


def _archived(archive_dir: Path) -> tuple[list[tuple], dict[str, bytes], dict[str, bytes]]:
    captures = query(archive_dir / "archive.db", "SELECT * FROM captures ORDER BY id")
    files = {str(p.relative_to(archive_dir)): p.read_bytes() for p in sorted((archive_dir / "files").rglob("*")) if p.is_file()}
    warcs = {p.name: p.read_bytes() for p in sorted((archive_dir / "warc").glob("*.warc.gz"))}
    return captures, files, warcs


def test_a_hostile_rerun_alters_nothing_archived(tmp_path: Path) -> None:
    mode = {"page": "good"}
    server = RawServer(_switching_server(mode))
    try:
        folder = tmp_path / "case"
        (folder / "docs").mkdir(parents=True)
        for name in ("link", "fifo", "big", "gone"):
            (folder / "docs" / f"{name}.txt").write_text(f"The {name} note, as first archived.\n", encoding="utf-8")
        secret = tmp_path / "outside-secret.txt"
        secret.write_text("root:hash-that-must-never-be-archived\n", encoding="utf-8")
        case_file = folder / "swap.yml"
        case_file.write_text("case:\n  id: swap\n  title: Swapped\nsources:\n"
                             f"  - id: page\n    url: {server.url}/page\n"
                             "  - id: link\n    path: docs/link.txt\n  - id: fifo\n    path: docs/fifo.txt\n"
                             "  - id: big\n    path: docs/big.txt\n  - id: gone\n    path: docs/gone.txt\n", encoding="utf-8")
        archive_dir = tmp_path / "archive"
        first = _library_run(case_file, archive_dir)
        assert [(r.source_id, r.state) for r in first.results] == [
            ("swap/page", "new"), ("swap/link", "new"), ("swap/fifo", "new"), ("swap/big", "new"), ("swap/gone", "new")]
        before = _archived(archive_dir)

        def swap() -> None:  # after validation, before capture
            docs = folder / "docs"
            (docs / "link.txt").unlink()
            os.symlink(secret, docs / "link.txt")
            (docs / "fifo.txt").unlink()
            os.mkfifo(docs / "fifo.txt")  # nobody ever writes to it: reading it would hang the run
            (docs / "big.txt").write_bytes(b"x" * 5000)
            (docs / "gone.txt").unlink()

        mode["page"] = "mailto"
        began = time.monotonic()
        second = _library_run(case_file, archive_dir, swap, refresh=True, max_local=1000)
        assert time.monotonic() - began < 60  # the FIFO did not hang the run
        assert [(r.source_id, r.state, r.detail) for r in second.results] == [
            ("swap/page", "failed", f"refused: redirect to a non-http(s) URL: mailto:x (from {server.url}/page)"),
            ("swap/link", "failed", "refused: docs/link.txt is a symbolic link; documents are read without following links"),
            ("swap/fifo", "failed", "refused: docs/fifo.txt is a FIFO (named pipe), not a regular file"),
            ("swap/big", "failed", "refused: docs/big.txt is 5000 bytes, over 1000 (limit --max-local)"),
            ("swap/gone", "failed", "failed: docs/gone.txt is missing"),
        ]
        attempts = query(archive_dir / "archive.db",
                         "SELECT source_id, outcome, error, capture_id, blake3 FROM attempts WHERE id > 5 ORDER BY id")
        assert attempts == [
            ("swap/page", "refused", f"redirect to a non-http(s) URL: mailto:x (from {server.url}/page)", None, None),
            ("swap/link", "refused", "docs/link.txt is a symbolic link; documents are read without following links",
             None, None),
            ("swap/fifo", "refused", "docs/fifo.txt is a FIFO (named pipe), not a regular file", None, None),
            ("swap/big", "refused", "docs/big.txt is 5000 bytes, over 1000 (limit --max-local)", None, None),
            ("swap/gone", "failed", "docs/gone.txt is missing", None, None),
        ]
        after = _archived(archive_dir)
        assert after[0] == before[0]  # every capture row exactly as it was
        assert after[1] == before[1]  # every archived file, byte for byte: nothing added, nothing changed
        assert {k: v for k, v in after[2].items() if k in before[2]} == before[2]  # earlier WARCs untouched
        assert not any(b"hash-that-must-never-be-archived" in data
                       for p in archive_dir.rglob("*") if p.is_file() for data in [p.read_bytes()])

        for name in ("link", "fifo", "big", "gone"):  # the documents put back as they were
            (folder / "docs" / f"{name}.txt").unlink(missing_ok=True)
            (folder / "docs" / f"{name}.txt").write_text(f"The {name} note, as first archived.\n", encoding="utf-8")
        mode["page"] = "partial"  # and a 206 on the next refresh records no capture either
        third = _library_run(case_file, archive_dir, refresh=True, max_local=1000)
        assert [r.state for r in third.results] == ["failed", "unchanged", "unchanged", "unchanged", "unchanged"]
        assert third.results[0].detail == (f"refused: HTTP 206 Partial Content (Content-Range: bytes 0-119/100000): "
                                           f"only part of the body was sent, never recorded as the page, at "
                                           f"{server.url}/page")
        assert _archived(archive_dir)[:2] == before[:2]
    finally:
        server.close()


def test_a_document_that_grows_while_read_is_refused_at_the_limit(tmp_path: Path) -> None:
    from ingest.capture.local import LocalRefused, read_document

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_bytes(b"y" * 3000)
    assert read_document(tmp_path, "docs/a.txt", 3000).size == 3000  # exactly the limit is allowed
    with pytest.raises(LocalRefused) as info:
        read_document(tmp_path, "docs/a.txt", 2999)
    assert (str(info.value), info.value.outcome) == ("is 3000 bytes, over 2999 (limit --max-local)", "refused")
    os.mkdir(tmp_path / "docs" / "sub")
    os.symlink(tmp_path / "docs", tmp_path / "docs" / "sub" / "up")
    with pytest.raises(LocalRefused) as info:
        read_document(tmp_path, "docs/sub/up/a.txt")
    assert str(info.value) == 'is inside "docs/sub/up", which is a symbolic link; documents are read without following links'


def test_folders_opened_once_a_run_refuse_as_a_fresh_open_does_and_are_all_closed(tmp_path: Path) -> None:
    from ingest.capture.local import Folders, LocalRefused, read_document

    for i in range(Folders.MAX_OPEN + 6):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "a.txt").write_bytes(b"x" * i)
    (tmp_path / "d0" / "sub").mkdir()
    os.symlink(tmp_path / "d1", tmp_path / "d0" / "sub" / "up")
    fds = len(os.listdir("/proc/self/fd"))
    with Folders() as folders:
        sizes = [read_document(tmp_path, f"d{i}/a.txt", folders=folders).size for i in range(Folders.MAX_OPEN + 6)]
        assert sizes == list(range(Folders.MAX_OPEN + 6))
        assert len(os.listdir("/proc/self/fd")) == fds + Folders.MAX_OPEN  # the least recently used are closed
        assert read_document(tmp_path, "d5/a.txt", folders=folders).data == b"xxxxx"  # reopened
        with pytest.raises(LocalRefused) as info:
            read_document(tmp_path, "d0/sub/up/a.txt", folders=folders)
        assert str(info.value) == 'is inside "d0/sub/up", which is a symbolic link; documents are read without following links'
    assert len(os.listdir("/proc/self/fd")) == fds


# -- one source's unexpected failure, credentials ------------------------------------------------


def test_an_unexpected_error_in_one_source_is_a_failed_attempt_and_the_batch_goes_on(tmp_path: Path) -> None:
    from ingest.capture.fetch import FetchConfig

    server = RawServer(_switching_server({"page": "good"}))
    try:
        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "note.txt").write_text("A note after the broken source.\n", encoding="utf-8")
        case_file = tmp_path / "guard.yml"
        case_file.write_text("case:\n  id: guard\n  title: Guard\nsources:\n"
                             f"  - id: page\n    url: {server.url}/page\n  - id: note\n    path: docs/note.txt\n",
                             encoding="utf-8")
        # A CA file that vanished: the fetch's set-up raises before any request (not a FetchFailed).
        config = FetchConfig(allow_private=True, ca_file=str(tmp_path / "missing-ca.pem"))
        report = _library_run(case_file, tmp_path / "archive", fetch=config)
    finally:
        server.close()
    reason = "internal error while capturing (FileNotFoundError: [Errno 2] No such file or directory)"
    assert [(r.source_id, r.state, r.detail) for r in report.results] == [
        ("guard/page", "failed", f"failed: {reason}"),
        ("guard/note", "new", "captured docs/note.txt (" + report.results[1].detail.split("(")[1]),
    ]
    assert query(tmp_path / "archive" / "archive.db", "SELECT source_id, outcome, error FROM attempts ORDER BY id") == [
        ("guard/page", "failed", reason), ("guard/note", "captured", None)]


def test_a_url_with_credentials_is_a_case_file_error(tmp_path: Path) -> None:
    case = tmp_path / "creds.yml"
    case.write_text("case:\n  id: creds\n  title: Creds\nsources:\n  - id: admin\n"
                    "    url: http://admin:hunter2@127.0.0.1:9/private/report\n", encoding="utf-8")
    result = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert (result.code, result.out) == (2, "")
    assert result.err == (f'error: {case}:6: sources.0.url: "http://admin:***@127.0.0.1:9/private/report" carries '
                          "credentials (user:password@); credentials belong in an operator option or the environment, "
                          "never in evidence\n1 case-file error(s); nothing was fetched or recorded.\n")
    assert not (tmp_path / "archive").exists()


def test_a_nul_byte_in_a_path_is_a_case_file_error(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("a", encoding="utf-8")
    case = tmp_path / "nul.yml"
    case.write_text('case:\n  id: nul\n  title: Nul\nsources:\n  - id: a\n    path: "docs/a.txt\\0.pdf"\n',
                    encoding="utf-8")
    result = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert (result.code, result.out) == (2, "")
    assert result.err == (f'error: {case}:6: sources.0.path: "docs/a.txt\\x00.pdf" contains a control character '
                          "(U+0000); give the file's name as plain text\n"
                          "1 case-file error(s); nothing was fetched or recorded.\n")
    assert not (tmp_path / "archive").exists()


def test_proxy_credentials_and_session_cookies_are_never_kept(tmp_path: Path) -> None:
    import base64
    import gzip
    import json

    from ingest import __version__

    token = base64.b64encode(b"proxyuser:pr0xy-s3cret")
    requests: list[bytes] = []

    def forward_proxy(conn: socket.socket) -> None:  # answers for the origin itself, as a caching proxy may
        while data := read_request(conn):
            requests.append(data)
            target = data.split(b" ", 2)[1]
            if b"Proxy-Authorization: Basic " + token not in data:
                _send(conn, "HTTP/1.1 407 Proxy Authentication Required\nContent-Length: 0\n")
            elif target.endswith(b"/start"):
                _send(conn, "HTTP/1.1 302 Found\nSet-Cookie: sid=session-cookie-value; Path=/\nLocation: /page\n"
                            "Content-Length: 0\n")
            else:
                _send(conn, f"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: {len(PAGE)}\n", PAGE)

    proxy = RawServer(forward_proxy)
    try:
        case = tmp_path / "proxied.yml"
        case.write_text("case:\n  id: proxied\n  title: Proxied\nsources:\n  - id: page\n"
                        "    url: http://news.example/start\n", encoding="utf-8")
        archive = tmp_path / "archive"
        result = khronika("run", str(case), "--archive", str(archive),
                          "--proxy", f"http://proxyuser:pr0xy-s3cret@127.0.0.1:{proxy.port}")
    finally:
        proxy.close()
    assert result.code == 0, result.err
    assert [r.split(b"\r\n")[0] for r in requests] == [b"GET http://news.example/start HTTP/1.1",
                                                       b"GET http://news.example/page HTTP/1.1"]
    assert b"Cookie: sid=session-cookie-value" in requests[1]  # the session was kept across the hops ...
    hops = json.loads(query(archive / "archive.db", "SELECT hops FROM captures")[0][0])
    sent = [["Host", "news.example"], ["Connection", "keep-alive"], ["User-Agent", f"Khronika/{__version__} (+archive)"],
            ["Accept", "*/*"], ["Accept-Encoding", "gzip, deflate, br"]]
    assert [h["request_headers"] for h in hops] == [sent, sent + [["Cookie", "<redacted>"]]]  # ... recorded as sent, redacted
    assert query(archive / "archive.db", "SELECT hops FROM attempts") == query(archive / "archive.db", "SELECT hops FROM captures")
    kept = b""
    for path in archive.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            kept += gzip.decompress(data) if path.name.endswith(".gz") else data
    assert b"Cookie: <redacted>\r\n" in kept  # the WARC request record
    for secret in (b"pr0xy-s3cret", token, b"proxyuser", b"\r\nCookie: sid=", b"[\"Cookie\", \"sid="):
        assert secret not in kept, secret
    assert "pr0xy-s3cret" not in result.err + result.out


def test_verify_live_refetch_records_an_unexpected_error_as_a_failed_attempt(tmp_path: Path) -> None:
    from ingest.capture.fetch import FetchConfig
    from ingest.pipeline import RunOptions, Runner
    from ingest.store.archive import Archive

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text("A note.\n", encoding="utf-8")
    case_file = tmp_path / "live.yml"
    case_file.write_text("case:\n  id: live\n  title: Live\nsources:\n  - id: note\n    path: docs/note.txt\n"
                         "  - id: page\n    url: http://127.0.0.1:9/page\n", encoding="utf-8")
    _library_run(case_file, tmp_path / "archive", offline=True)
    config = FetchConfig(allow_private=True, ca_file=str(tmp_path / "missing-ca.pem"))
    with Archive.open(tmp_path / "archive") as archive:
        runner = Runner(archive, RunOptions(refresh=True, fetch=config))
        runner.refetch("live/page", "http://127.0.0.1:9/page")
        runner.finish()
    reason = "internal error while capturing (FileNotFoundError: [Errno 2] No such file or directory)"
    assert [(r.source_id, r.state, r.detail) for r in runner.report.results] == [("live/page", "failed", f"failed: {reason}")]
    assert query(tmp_path / "archive" / "archive.db", "SELECT source_id, outcome, error FROM attempts WHERE "
                 "source_id = 'live/page'") == [("live/page", "failed", reason)]
