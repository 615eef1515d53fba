"""Browser capture in real headless Chromium behind the real recording proxy, against servers on 127.0.0.1."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import http.server
import json
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Site, khronika, query

from ingest.capture.browser import BrowserOptions, capture, launched
from ingest.capture.warc import payload_digest
from ingest.store.warcs import parse_member, record_at, records

MITM = ROOT / ".venv-mitm"
ICON = '<link rel="icon" href="data:,">'  # no favicon request: the exchanges are exactly the page's


def _ensure_mitm() -> None:
    """Make .venv-mitm as `make ingest` does, when a checkout's tests run without make."""
    with open(ROOT / ".venv-mitm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (MITM / ".installed").is_file():
            return
        subprocess.run([sys.executable, "-m", "venv", str(MITM)], check=True)
        pip = subprocess.run([str(MITM / "bin" / "python"), "-m", "pip", "install", "-q", "mitmproxy"],
                             capture_output=True, text=True)
        assert pip.returncode == 0, f"cannot install mitmproxy into {MITM}: {pip.stderr[-1000:]}"
        (MITM / ".installed").touch()


@pytest.fixture(scope="module")
def browser() -> Iterator[tuple[object, str]]:
    _ensure_mitm()
    with launched() as pair:
        yield pair


@pytest.fixture(scope="module")
def web() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


def opts(**kw: object) -> BrowserOptions:
    kw.setdefault("idle_cap", 3.0)
    return BrowserOptions(allow_private=True, **kw)  # type: ignore[arg-type]


ARTICLE = {"title": "Decision of the district court",
           "text": "On 13 March the Primorsky District Court fined Alexey Sidorov 20,000 rubles under Article "
                   "20.3.1 of the Code of Administrative Offenses, after a hearing that lasted eleven minutes."}
APP_JS = (b"fetch('/article.json').then(r => r.json()).then(d => { document.getElementById('root').innerHTML ="
          b" '<article><h1>' + d.title + '</h1><p>' + d.text + '</p></article>'; });")
SHELL = (f'<!doctype html><html><head><meta charset="utf-8">{ICON}<title>Court news</title></head><body>'
         '<div id="root">Loading…</div><script src="/app.js"></script></body></html>').encode()


def _serve_article(web: Site, prefix: str) -> tuple[str, bytes, bytes]:
    packed = gzip.compress(json.dumps(ARTICLE).encode(), mtime=0)
    web.set(f"{prefix}/article.json", packed, Content_Type="application/json", Content_Encoding="gzip")
    web.set(f"{prefix}/app.js", APP_JS.replace(b"'/article.json'", f"'{prefix}/article.json'".encode()),
            Content_Type="text/javascript")
    page = SHELL.replace(b'"/app.js"', f'"{prefix}/app.js"'.encode())
    return web.set(f"{prefix}/", page, Content_Type="text/html; charset=utf-8"), packed, page


@pytest.fixture(scope="module")
def js_run(web: Site, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`run --browser auto` over a page whose article a script fetches as JSON (gzip-encoded)."""
    _ensure_mitm()
    tmp_path = tmp_path_factory.mktemp("js")
    url, packed, page = _serve_article(web, "/js")
    case = tmp_path / "court.yml"
    case.write_text(f"""case:
  id: court
  title: Court
sources:
  - id: report
    url: {url}
claims:
  - id: fined
    text: Sidorov was fined.
    citations:
      - source: report
        quote: "fined Alexey Sidorov 20,000 rubles under Article 20.3.1"
        stance: supports
""", encoding="utf-8")
    archive = tmp_path / "archive"
    r = khronika("run", str(case), "--archive", str(archive), "--browser", "auto", "--browser-idle-cap", "3")
    return archive, url, packed, page, r


@pytest.mark.slow
def test_a_page_rendered_from_json_is_sourced_from_its_browser_capture(web: Site, js_run) -> None:  # type: ignore[no-untyped-def]
    archive, url, packed, page, r = js_run
    assert r.code == 0, r.err
    db = archive / "archive.db"
    rows = query(db, "SELECT id, version, method, blake3, media_type, charset, incomplete IS NOT NULL, completeness, "
                     "completeness_note FROM captures ORDER BY id")
    shell = "application shell: empty root element <div id=\"root\"> and 1 script bundle(s); the page's text is rendered by JavaScript"
    dom_b3 = rows[1][3]
    assert rows == [
        (1, 1, "http", rows[0][3], "text/html", "utf-8", 1, "checked", f"Content-Length: {len(page)} bytes received as announced"),
        (2, 2, "browser", dom_b3, "text/html", "utf-8", 0, "checked",
         "browser capture complete: 3 exchange(s), none failed, refused, cut or unfinished"),
    ]
    assert r.err.splitlines()[:3] == [
        f"new       court/report: captured {url} ({rows[0][3][:12]}, {len(page)} bytes)",
        f"new       court/report: browser capture complete: {url} ({dom_b3[:12]}, 3 exchange(s))",
        f"note: court/report: the HTTP capture is incomplete ({shell}); browser capture 2 holds the rendered page",
    ]
    assert "2 new capture(s), 0 unchanged, 0 kept without fetching, 0 failed, 0 wanted. Claims: 1 sourced." in r.err
    assert query(db, "SELECT claim_id, match, capture_id, exact FROM citations") == [
        ("court/fined", "exact", 2, "fined Alexey Sidorov 20,000 rubles under Article 20.3.1")]
    assert query(db, "SELECT status FROM claims") == [("sourced",)]
    assert query(db, "SELECT id, source_id, attempt_id, capture_id, outcome, reason, exchanges, failures, dom_blake3 "
                     "FROM browser_captures") == [(1, "court/report", 2, 2, "complete", None, 3, "[]", dom_b3)]
    assert query(db, "SELECT e.extractor, e.text_length > 100 FROM extractions e WHERE e.blake3 = ?", (dom_b3,)) == [
        ("trafilatura", 1)]

    # The WARC: the HTTP capture's exchange, then every exchange the browser made (nothing else:
    # no background traffic of Chromium's), the rendered DOM, screenshot and PDF, and the provenance.
    warc = next((archive / "warc").glob("*.warc.gz"))
    got = [(p.warc_type, p.target_uri) for p in records(warc)]
    assert got == [
        ("warcinfo", None), ("response", url), ("request", url),
        ("response", url), ("request", url), ("response", f"{web.base}/js/app.js"), ("request", f"{web.base}/js/app.js"),
        ("response", f"{web.base}/js/article.json"), ("request", f"{web.base}/js/article.json"),
        ("resource", f"urn:khronika:browser:dom:{url}"), ("resource", f"urn:khronika:browser:screenshot:{url}"),
        ("resource", f"urn:khronika:browser:pdf:{url}"), ("metadata", url),
    ]
    with open(warc, "rb") as fh:
        json_place = next(p for p in records(warc) if p.target_uri == f"{web.base}/js/article.json" and p.warc_type == "response")
        headers, block = parse_member(record_at(fh, json_place.offset)[1])  # type: ignore[index]
    assert block.endswith(b"\r\n\r\n" + packed)  # the body as sent: still gzip-encoded
    assert b"\r\nContent-Encoding: gzip\r\n" in block
    assert headers["WARC-Payload-Digest"] == payload_digest(packed)
    assert headers["WARC-IP-Address"] == "127.0.0.1"
    check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", str(warc)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("digest pass") == 13 and "fail" not in check.stdout
    prov_b3 = query(db, "SELECT provenance_blake3 FROM browser_captures")[0][0]
    prov = json.loads((archive / "files" / prov_b3[:2] / prov_b3).read_bytes())
    assert (prov["outcome"], prov["reason"], prov["blocked"], prov["failures"], prov["final_url"], prov["status"]) == (
        "complete", None, [], [], url, 200)
    assert [(r["record"], r["url"]) for r in prov["records"]] == [(t, u) for t, u in (
        ("response", url), ("response", f"{web.base}/js/app.js"), ("response", f"{web.base}/js/article.json"),
        ("dom", f"urn:khronika:browser:dom:{url}"), ("screenshot", f"urn:khronika:browser:screenshot:{url}"),
        ("pdf", f"urn:khronika:browser:pdf:{url}"))]
    assert prov["browser"].startswith("chromium ") and "(playwright " in prov["browser"]
    assert prov["proxy"].startswith("mitmproxy ") and prov["user_agent"].startswith("Mozilla/5.0")
    assert "--proxy-bypass-list=<-loopback>" in prov["flags"] and "--disable-background-networking" in prov["flags"]


@pytest.mark.slow
def test_the_marked_screenshot_boxes_the_quoted_words(js_run) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    archive, url, _, _, r = js_run
    db = archive / "archive.db"
    [(cid, capture_id, exact, b3, boxes, clip, served, refused, error)] = query(
        db, "SELECT citation_id, capture_id, exact, blake3, boxes, clip, served, refused, error FROM marked_screenshots")
    assert (cid, capture_id, exact, served, refused, error) == (
        "court/fined#1", 2, "fined Alexey Sidorov 20,000 rubles under Article 20.3.1", json.dumps([url]), "[]", None)
    [box] = json.loads(boxes)  # the passage is on one line
    assert json.loads(clip)["width"] == 1280
    image = Image.open(archive / "files" / b3[:2] / b3).convert("RGB")
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    assert w > 300 and 10 < h < 40
    mid = int(y + h / 2)
    red = (212, 0, 0)
    assert [image.getpixel((int(x - 2), mid)), image.getpixel((int(x + w + 1), mid)),
            image.getpixel((int(x + w / 2), int(y - 2))), image.getpixel((int(x + w / 2), int(y + h + 1)))] == [red] * 4
    assert image.getpixel((2, mid)) == (255, 255, 255)  # in the margin, outside the box: the page, unmarked
    inside = {image.getpixel((int(x + i), mid)) for i in range(0, int(w), 2)}
    assert (0, 0, 0) in inside and red not in inside  # the words themselves are not painted over


@pytest.mark.slow
def test_a_quote_drawn_nowhere_gets_no_marked_screenshot_and_does_not_count(web: Site, tmp_path: Path) -> None:
    """The words are in the rendered page's text but have no box (font size 0): the run says why
    there is no picture, and the quote does not count."""
    _ensure_mitm()
    url = web.set("/drawn-nowhere/", (f'<!doctype html><html><head><meta charset="utf-8">{ICON}<title>Court</title>'
                                      '</head><body><p style="font-size:0">The court fined him twenty thousand rubles.'
                                      '</p><p>Other news of the day.</p></body></html>').encode(),
                  Content_Type="text/html; charset=utf-8")
    case = tmp_path / "c.yml"
    case.write_text(f"""case:
  id: c
  title: C
sources:
  - id: page
    url: {url}
    capture: browser
claims:
  - id: fine
    text: He was fined.
    citations:
      - source: page
        quote: The court fined him twenty thousand rubles
        stance: supports
""", encoding="utf-8")
    r = khronika("run", str(case), "--archive", str(tmp_path / "archive"), "--browser-idle-cap", "3")
    assert "Traceback" not in r.err, r.err
    why = "the quoted passage has no box in the rendered page (it is not drawn); not boxed"
    assert f"note: c/fine: citation 1: no marked screenshot: {why}" in r.err.splitlines(), r.err
    db = tmp_path / "archive" / "archive.db"
    assert query(db, "SELECT blake3, boxes, error FROM marked_screenshots") == [(None, None, why)]
    assert query(db, "SELECT status, status_reason FROM claims") == [
        ("unsourced", "no supporting quote present; citation 1 (c/page): present only in text hidden from readers: "
                      "font size 0")]


@pytest.mark.slow
def test_source_and_claim_pages_show_the_screenshot_and_the_marked_passage(js_run) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from test_web import make_datasette, text_of

    from ingest.site.copies import ARCHIVE_CSP

    archive, url, _, _, _ = js_run
    db = archive / "archive.db"
    [(shot, dom, marked)] = query(db, "SELECT b.screenshot_blake3, b.dom_blake3, m.blake3 FROM browser_captures b "
                                      "JOIN marked_screenshots m ON m.capture_id = b.capture_id")
    ds = make_datasette(archive)
    source = text_of(ds, "/-/source/court/report")
    assert 'Browser capture <span class="outcome outcome-complete">complete</span>' in source
    assert f'<img class="page-screenshot" src="/-/archive/{shot}"' in source
    assert f'<a href="/-/archive/{dom}">rendered DOM</a>' in source
    claim = text_of(ds, "/-/claim/court/fined")
    assert f'<img class="marked-screenshot" src="/-/archive/{marked}"' in claim
    assert "remade from the archived DOM and the capture's own WARC records with the network off" in claim
    assert f'<a class="screenshot-link" href="/-/archive/{shot}">the full screenshot</a>' in claim
    response = asyncio.run(ds.client.get(f"/-/archive/{marked}"))
    assert (response.status_code, response.headers["content-type"], response.headers["content-security-policy"]) == (
        200, "image/png", ARCHIVE_CSP)
    assert response.content == (archive / "files" / marked[:2] / marked).read_bytes()


@pytest.mark.slow
def test_a_request_the_policy_refuses_is_recorded_and_makes_the_capture_partial(web: Site, browser) -> None:  # type: ignore[no-untyped-def]
    url = web.set("/refused/", (f'<!doctype html><html><head>{ICON}</head><body><p>A photo:</p>'
                                '<img src="http://169.254.169.254/latest/meta-data/"></body></html>').encode(),
                  Content_Type="text/html")
    cap = capture(url, opts(), browser)
    assert cap.outcome == "partial"
    assert cap.reason == ("refused: http://169.254.169.254/latest/meta-data/ "
                          "(cloud metadata address 169.254.169.254 refused)")
    assert [(f["kind"], f["url"], f["method"], f["reason"]) for f in cap.provenance["blocked"]] == [
        ("refused", "http://169.254.169.254/latest/meta-data/", "GET", "cloud metadata address 169.254.169.254 refused")]
    assert [h.url for h in cap.recorded.exchanges] == [url]


@pytest.mark.slow
def test_the_proxy_refuses_loopback_unless_private_addresses_are_allowed(web: Site, browser) -> None:  # type: ignore[no-untyped-def]
    url = web.set("/private/", b"<p>local</p>", Content_Type="text/html")
    cap = capture(url, BrowserOptions(idle_cap=1.0), browser)
    assert (cap.outcome, cap.reason) == (
        "failed", f"refused: loopback address 127.0.0.1 refused; use --allow-private to fetch from local and private "
                  f"networks at {url}")
    assert cap.recorded.exchanges == [] and web.hits.get("/private/") is None


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


@pytest.mark.slow
def test_lazy_images_are_fetched_after_scrolling_and_a_long_screenshot_is_cut(web: Site, browser) -> None:  # type: ignore[no-untyped-def]
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
    web.set("/lazy/far.png", png, Content_Type="image/png")
    url = web.set("/lazy/", (f'<!doctype html><html><head>{ICON}</head><body style="margin:0"><p>Top</p>'
                             '<div style="height:16000px"></div><img loading="lazy" src="/lazy/far.png" width="20" height="20">'
                             "</body></html>").encode(), Content_Type="text/html")
    def asked_before_the_snapshot(cap) -> list[str]:  # type: ignore[no-untyped-def]
        return [h.url for h in cap.recorded.exchanges if h.started_at < cap.provenance["timings"]["snapshot_at"]]

    still = capture(url, opts(max_scrolls=0, screenshot_height=1000), browser)
    assert still.provenance["timings"]["scroll_steps"] == 0
    assert asked_before_the_snapshot(still) == [url]  # without scrolling the DOM snapshot never asked for the image
    cap = capture(url, opts(screenshot_height=1000, max_scrolls=30, scroll_pause=0.1), browser)
    assert asked_before_the_snapshot(cap) == [url, f"{web.base}/lazy/far.png"]
    assert cap.provenance["timings"]["scroll_steps"] == 17
    shot = cap.provenance["screenshot"]
    assert shot == {"width": 1280, "page_width": 1280, "page_height": shot["page_height"], "height": 1000,
                    "height_cap": 1000, "cut": True}
    assert shot["page_height"] > 16000
    assert _png_size(cap.screenshot) == (1280, 1000)  # type: ignore[arg-type]
    assert (cap.outcome, cap.reason) == (
        "partial", f"screenshot cut at 1000 of the page's {shot['page_height']} pixels (limit --browser-screenshot-height)")
    assert cap.pdf is not None and cap.pdf.startswith(b"%PDF-")


@pytest.mark.slow
def test_a_page_that_never_goes_quiet_is_capped_and_says_so(web: Site, browser) -> None:  # type: ignore[no-untyped-def]
    url = web.set("/busy/", (f"<!doctype html><html><head>{ICON}</head><body><p>Live ticker</p><script>"
                             "setInterval(() => fetch('/busy/poll?' + Math.random()), 150);</script></body></html>").encode(),
                  Content_Type="text/html")
    cap = capture(url, opts(idle_cap=1.5, max_scrolls=0), browser)
    timings = cap.provenance["timings"]
    assert (timings["network_idle"], timings["network_idle_after_scroll"]) == (
        "not reached within 1.5 s", "not reached within 1.5 s")
    assert cap.outcome == "partial"
    assert cap.reason is not None and cap.reason.startswith(
        "the network was not idle within 1.5 s (limit --browser-idle-cap): requests were still being made")
    assert len(cap.recorded.exchanges) > 5 and web.hits.get("/busy/") == 1


@pytest.mark.slow
def test_requests_over_the_limit_are_refused_and_listed(web: Site, browser) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        web.set(f"/many/{n}.css", b"p{}", Content_Type="text/css")
    links = "".join(f'<link rel="stylesheet" href="/many/{n}.css">' for n in range(3))
    url = web.set("/many/", f"<!doctype html><html><head>{ICON}{links}</head><body><p>x</p></body></html>".encode(),
                  Content_Type="text/html")
    cap = capture(url, opts(max_requests=2), browser)
    limited = [f for f in cap.recorded.failures if f.kind == "limited"]
    assert [f.reason for f in limited] == ["more than 2 requests (limit --browser-max-requests)"] * 2
    assert sorted([h.url for h in cap.recorded.exchanges] + [f.url for f in limited]) == sorted(
        [url] + [f"{web.base}/many/{n}.css" for n in range(3)])
    assert cap.outcome == "partial"


# --------------------------------------------------------------------------
# HTTPS: a test CA, a server certificate it signed, the chain recorded
# --------------------------------------------------------------------------


def _serve_page(ctx: ssl.SSLContext, body: bytes) -> http.server.ThreadingHTTPServer:
    """An HTTPS server on 127.0.0.1 answering every GET with the page `body`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    from tls_ca import TestCA

    ca = TestCA(tmp_path_factory.mktemp("tls"))
    ctx = ca.server_context(("localhost",), with_ca=True)  # the server sends its certificate, then the CA's
    chain = (ca.folder / "localhost.crt").read_text()
    pems = [part + "-----END CERTIFICATE-----\n" for part in chain.split("-----END CERTIFICATE-----\n") if part]
    srv = _serve_page(ctx, f'<!doctype html><html><head>{ICON}</head><body><p>Over TLS</p></body></html>'.encode())
    yield f"https://127.0.0.1:{srv.server_address[1]}/", ca.ca_file, pems
    srv.shutdown()
    srv.server_close()


@pytest.mark.slow
def test_an_https_page_keeps_its_certificate_chain(tls_site, browser) -> None:  # type: ignore[no-untyped-def]
    url, ca_file, pems = tls_site
    cap = capture(url, opts(ca_file=str(ca_file)), browser)
    assert (cap.outcome, cap.reason) == ("complete", None)
    origin = url.rstrip("/")
    assert cap.recorded.chains == {origin: pems}
    tls = cap.document.tls  # type: ignore[union-attr]
    der = [ssl.PEM_cert_to_DER_cert(p) for p in pems]
    assert tls["chain_sha256"] == [hashlib.sha256(d).hexdigest() for d in der]
    assert tls["sni"] == "127.0.0.1" and tls["version"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.slow
def test_an_https_page_whose_certificate_is_not_trusted_is_not_captured(tls_site, browser) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = tls_site
    cap = capture(url, opts(idle_cap=1.0), browser)
    assert cap.outcome == "failed"
    assert cap.reason is not None and cap.reason.startswith("failed: ") and cap.reason.endswith(f" at {url}")
    assert cap.reason == f"failed: Certificate verify failed: self-signed certificate in certificate chain at {url}"
    assert cap.recorded.exchanges == []


# --------------------------------------------------------------------------
# Without a browser or a proxy: a clear failure, and the batch goes on
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("env,said", [
    ({"KHRONIKA_MITM_PYTHON": "/nonexistent/python"},
     "failed: browser capture needs its recording proxy (mitmproxy): $KHRONIKA_MITM_PYTHON names /nonexistent/python, "
     "which is not an executable"),
    ({"KHRONIKA_CHROMIUM": "/nonexistent/chromium"},
     "failed: Chromium not available: no executable at /nonexistent/chromium ($KHRONIKA_CHROMIUM)"),
])
def test_without_the_browser_or_its_proxy_the_source_fails_with_the_reason(
        web: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], said: str) -> None:
    _ensure_mitm()
    plain = web.set("/plain.txt", b"Plain words.", Content_Type="text/plain")
    case = tmp_path / "c.yml"
    case.write_text(f"case:\n  id: c\n  title: C\nsources:\n  - id: page\n    url: {web.url('/nothing/')}\n"
                    f"    capture: browser\n  - id: plain\n    url: {plain}\n", encoding="utf-8")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert r.code == 1
    assert f"failed    c/page: {said}" in r.err.splitlines()
    assert f"failed: c/page: {said}" in r.err.splitlines()
    assert query(tmp_path / "archive" / "archive.db", "SELECT source_id, method, outcome, error FROM attempts ORDER BY id") == [
        ("c/page", "browser", "failed", said.removeprefix("failed: ")), ("c/plain", "http", "captured", None)]


# --------------------------------------------------------------------------
# kill -9 of the run leaves no browser and no proxy behind
# --------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process now."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid = text.rsplit(")", 1)[1].split()[:2]
        out[int(stat.parent.name)] = (int(ppid), state, cmd)
    return out


def _descendants(pid: int) -> dict[int, str]:
    procs, found, todo = _processes(), {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _, cmd) in procs.items():
            if ppid == parent and child not in found:
                found[child] = cmd
                todo.append(child)
    return found


@pytest.mark.slow
def test_kill_9_of_the_run_leaves_no_browser_or_proxy_behind(web: Site, tmp_path: Path) -> None:
    import os
    import signal
    import time

    _ensure_mitm()
    url = web.set("/forever/", (f"<!doctype html><html><head>{ICON}</head><body><p>Ticker</p><script>"
                                "setInterval(() => fetch('/forever/poll?' + Math.random()), 100);</script></body></html>").encode(),
                  Content_Type="text/html")
    case = tmp_path / "c.yml"
    case.write_text(f"case:\n  id: c\n  title: C\nsources:\n  - id: page\n    url: {url}\n    capture: browser\n",
                    encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "run", str(case), "--archive", str(tmp_path / "a"),
                             "--browser-idle-cap", "60", "--browser-timeout", "300"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "KHRONIKA_ALLOW_PRIVATE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not web.hits.get("/forever/"):
            time.sleep(0.2)
        assert web.hits.get("/forever/") == 1, "the browser never asked for the page"
        seen = _descendants(proc.pid)
        assert any("chromium" in c for c in seen.values()) and any("ingest.capture.recorder" in c for c in seen.values())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        alive = seen
        while alive and time.monotonic() < deadline:
            procs = _processes()
            alive = {p: c for p, c in seen.items() if p in procs and procs[p][1] != "Z" and procs[p][2] == c}
            time.sleep(0.2)
        assert alive == {}
    finally:
        procs = _processes()
        for pid, cmd in seen.items():  # only what this test started
            if pid in procs and procs[pid][2] == cmd and procs[pid][1] != "Z":
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_pywb_replays_the_browser_capture_with_its_json_exchange(web: Site, js_run, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from test_interop import pywb

    archive, url, _, _, _ = js_run
    web.set("/js/article.json", b'{"title": "Changed", "text": "The live page says something else now."}',
            Content_Type="application/json")  # replay must not reach the live site
    warc = next((archive / "warc").glob("*.warc.gz"))
    with pywb(warc, tmp_path / "pywb") as base:
        context = browser[0].new_context()
        try:
            page = context.new_page()
            page.goto(f"{base}/{url}", wait_until="load", timeout=60000)  # pywb's frame around the replayed page
            replay = page.frame_locator("iframe").first
            # the script's JSON came from the archive: the article is there as the browser capture saw it
            assert replay.locator("article p").inner_text(timeout=30000) == ARTICLE["text"]
            assert replay.locator("article h1").inner_text() == ARTICLE["title"]
        finally:
            context.close()


@pytest.mark.slow
def test_run_captures_an_https_page_in_the_browser_with_ca_file_and_resolve(tmp_path: Path) -> None:
    """A name that only --resolve knows, over TLS with --ca-file: the proxy connects to the mapped
    address, names the host in TLS, and the WARC keeps the certificate chain of the origin."""
    from tls_ca import TestCA

    _ensure_mitm()
    ca = TestCA(tmp_path / "ca")
    ctx = ca.server_context(("news.example",))
    srv = _serve_page(ctx, f'<!doctype html><html><head>{ICON}</head><body><p>Reported over TLS.</p></body></html>'.encode())
    port = srv.server_address[1]
    url = f"https://news.example:{port}/"
    try:
        case = tmp_path / "c.yml"
        case.write_text(f"case:\n  id: c\n  title: C\n  capture: browser\nsources:\n  - id: news\n    url: {url}\n",
                        encoding="utf-8")
        archive = tmp_path / "archive"
        r = khronika("run", str(case), "--archive", str(archive), "--ca-file", str(ca.ca_file),
                     "--resolve", f"news.example:{port}:127.0.0.1", "--browser-idle-cap", "2")
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.code == 0, r.err
    [(method, ip, tls)] = query(archive / "archive.db", "SELECT method, ip, tls FROM captures")
    assert (method, ip, json.loads(tls)["sni"]) == ("browser", "127.0.0.1", "news.example")
    warc = next((archive / "warc").glob("*.warc.gz"))
    places = records(warc)
    assert [(p.warc_type, p.target_uri) for p in places][1:4] == [
        ("response", url), ("request", url), ("metadata", f"https://news.example:{port}/")]
    assert places[1].headers["WARC-IP-Address"] == "127.0.0.1"
    with open(warc, "rb") as fh:
        headers, block = parse_member(record_at(fh, places[3].offset)[1])  # type: ignore[index]
    leaf = (tmp_path / "ca" / "news.crt").read_text()  # tls_ca names it by the stem of the first name
    assert headers["Content-Type"] == "application/pem-certificate-chain"
    assert block.decode() == leaf  # the server sent its own certificate only

