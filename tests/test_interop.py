"""Outputs read by tools Khronika did not write: pywb replays the bag's WARC and the WACZ (redirects,
revisits, local documents), bagit and bagit-utils validate the bag, warcio checks and indexes the
WARCs; pages.jsonl is what the captures say; a failed export leaves nothing behind."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import bagit
import bagit_utils
import httpx
import pytest
from conftest import ROOT, Site, khronika, query

from ingest.evidence.bagverify import verify_bag

BIN = Path(sys.executable).parent
# pywb lives in a virtual environment of its own (its brotlipy would shadow the project's Brotli)
PYWB_BIN = ROOT / ".venv-pywb" / "bin"
PAGE = ("<html><head><title>Interop page</title></head><body><article><p>The committee said that the "
        "hearing was moved to a closed court, with enough words around it for the extractor.</p></article>"
        "</body></html>").encode()
GZ_TEXT = b"<html><head><title>Zipped</title></head><body><p>A page sent gzip-encoded, kept decoded.</p></body></html>"
STATEMENT = "A local statement, read from the case folder.\n".encode()
CASE = """\
case:
  id: "interop"
  title: "Interop case"
  description: "A redirecting page, a gzip page and a local document."
sources:
  - id: "moved"
    url: "{base}/old/p"
    title: "Moved page"
    kind: "report"
    outlet: "test"
    language: "en"
  - id: "zipped"
    url: "{base}/gz"
    title: "Zipped page"
    kind: "report"
    outlet: "test"
    language: "en"
  - id: "statement"
    path: "docs/statement.txt"
    title: "Statement"
    kind: "statement"
    outlet: "test"
    language: "en"
claims:
  - id: "moved-claim"
    text: "The hearing was moved."
    type: "statement"
    citations:
      - source: "moved"
        quote: "the hearing was moved to a closed court"
        stance: "supports"
"""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    s = Site()
    s.set("/old/p", b"moved", status=301, Location="/go/p", Content_Type="text/plain")
    s.set("/go/p", b"", status=302, Location="/page")
    s.set("/page", PAGE, Content_Type="text/html; charset=utf-8")
    s.set("/gz", gzip.compress(GZ_TEXT, mtime=0), Content_Type="text/html; charset=utf-8", Content_Encoding="gzip")
    yield s
    s.close()


@pytest.fixture(scope="module")
def exported(site: Site, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run, run --refresh with nothing changed (revisits), then export as a bag, a zip and a WACZ."""
    tmp = tmp_path_factory.mktemp("interop")
    (tmp / "cases" / "docs").mkdir(parents=True)
    (tmp / "cases" / "interop.yml").write_text(CASE.format(base=site.base), "utf-8")
    (tmp / "cases" / "docs" / "statement.txt").write_bytes(STATEMENT)
    archive = tmp / "archive"
    for args in ((), ("--refresh",)):
        r = khronika("run", "--archive", str(archive), *args, cwd=tmp)
        assert r.code == 0, r.err
        time.sleep(1.1)  # the revisits' 14-digit timestamps differ from the originals', so replay can tell them apart
    r = khronika("export", "interop", "--archive", str(archive), "--out", str(tmp / "bag"), "--zip", "--wacz")
    assert r.code == 0, r.err
    said = {k: line.split()[-1] for line in r.out.splitlines() for k in ("key fingerprint", "log head")
            if line.startswith(k + " ")}
    return {"tmp": tmp, "archive": archive, "bag": tmp / "bag", "wacz": tmp / "bag.wacz", "zip": tmp / "bag.zip",
            "fp": said["key fingerprint"], "head": said["log head"]}  # type: ignore[dict-item]


def _ensure_pywb() -> None:
    """Make .venv-pywb as `make test` does, when a checkout's tests run without make."""
    import fcntl

    with open(ROOT / ".venv-pywb.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (PYWB_BIN.parent / ".installed").is_file():
            return
        subprocess.run([sys.executable, "-m", "venv", str(PYWB_BIN.parent)], check=True)
        pip = subprocess.run([str(PYWB_BIN / "python"), "-m", "pip", "install", "-q", "pywb"], capture_output=True,
                             text=True)
        assert pip.returncode == 0, f"cannot install pywb into {PYWB_BIN.parent}: {pip.stderr[-1000:]}"
        (PYWB_BIN.parent / ".installed").touch()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def pywb(archive_file: Path, where: Path) -> Iterator[str]:
    """A pywb collection made from one WARC or WACZ by wb-manager, served on 127.0.0.1."""
    _ensure_pywb()
    where.mkdir()
    subprocess.run([str(PYWB_BIN / "wb-manager"), "init", "c"], cwd=where, check=True, capture_output=True)
    extra = ["--unpack-wacz"] if archive_file.suffix == ".wacz" else []
    subprocess.run([str(PYWB_BIN / "wb-manager"), "add", *extra, "c", str(archive_file)], cwd=where, check=True,
                   capture_output=True)
    port = _free_port()
    log = open(where / "wayback.log", "wb")
    proc = subprocess.Popen([str(PYWB_BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"], cwd=where,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/c"
    try:
        for _ in range(300):
            assert proc.poll() is None, (where / "wayback.log").read_text("utf-8", "replace")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _warc_records(path: Path) -> list[tuple[str, str | None]]:
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in ArchiveIterator(fh)]


def test_bag_warc_holds_every_record_of_each_capture(exported: dict[str, Path], site: Site) -> None:
    b = site.base
    warc = exported["bag"] / "data" / "warc" / "interop.warc.gz"
    urn = "urn:khronika:case/interop/docs/statement.txt"
    first = [("response", f"{b}/old/p"), ("request", f"{b}/old/p"), ("response", f"{b}/go/p"), ("request", f"{b}/go/p"),
             ("response", f"{b}/page"), ("request", f"{b}/page"), ("response", f"{b}/gz"), ("request", f"{b}/gz"),
             ("resource", urn)]
    # the refresh: the redirects again in full, the unchanged final responses as revisits
    again = [("response", f"{b}/old/p"), ("request", f"{b}/old/p"), ("response", f"{b}/go/p"), ("request", f"{b}/go/p"),
             ("revisit", f"{b}/page"), ("request", f"{b}/page"), ("revisit", f"{b}/gz"), ("request", f"{b}/gz")]
    assert _warc_records(warc) == [("warcinfo", None), *first, ("warcinfo", None), *again]
    db = exported["bag"] / "data" / "archive.db"
    assert query(db, "SELECT refers_to, warc_type FROM bag_warc_records ORDER BY n") == [
        ("warcinfo", "warcinfo"), ("redirect", "response"), ("request", "request"), ("redirect", "response"),
        ("request", "request"), ("captures", "response"), ("request", "request"), ("captures", "response"),
        ("request", "request"), ("captures", "resource"),
        ("warcinfo", "warcinfo"), ("redirect", "response"), ("request", "request"), ("redirect", "response"),
        ("request", "request"), ("attempts", "revisit"), ("request", "request"), ("attempts", "revisit"),
        ("request", "request")]
    # warcio checks every digest and indexes every record
    for path in (warc, *sorted((exported["archive"] / "warc").glob("*.warc.gz"))):
        check = subprocess.run([str(BIN / "warcio"), "check", "-v", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "digest pass" in check.stdout and "digest fail" not in check.stdout
    index = subprocess.run([str(BIN / "warcio"), "index", "-f", "warc-type,warc-target-uri,warc-profile,"
                            "warc-refers-to-target-uri", str(warc)], capture_output=True, text=True, check=True)
    revisits = [json.loads(line) for line in index.stdout.splitlines() if '"revisit"' in line]
    assert revisits == [
        {"warc-type": "revisit", "warc-target-uri": f"{b}/page",
         "warc-profile": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
         "warc-refers-to-target-uri": f"{b}/page"},
        {"warc-type": "revisit", "warc-target-uri": f"{b}/gz",
         "warc-profile": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
         "warc-refers-to-target-uri": f"{b}/gz"}]
    report = verify_bag(exported["bag"], exported["fp"])  # type: ignore[arg-type]
    assert report.exit_code() == 0, [c for c in report.checks if c.state != "ok"]


def _warc_headers(path: Path) -> list[tuple[str, dict[str, str]]]:
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        return [(r.rec_type, dict(r.rec_headers.headers)) for r in ArchiveIterator(fh)]


def test_revisit_names_the_record_it_repeats(exported: dict[str, Path], site: Site) -> None:
    from warcio.archiveiterator import ArchiveIterator

    with open(exported["bag"] / "data" / "warc" / "interop.warc.gz", "rb") as fh:
        recs = [(r.rec_type, dict(r.rec_headers.headers), r.content_stream().read()) for r in ArchiveIterator(fh)]
    original = next(h for t, h, _ in recs if t == "response" and h["WARC-Target-URI"] == f"{site.base}/page")
    revisit, body = next((h, body) for t, h, body in recs if t == "revisit" and h["WARC-Target-URI"] == f"{site.base}/page")
    assert {k: revisit[k] for k in ("WARC-Refers-To", "WARC-Refers-To-Target-URI", "WARC-Refers-To-Date",
                                    "WARC-Payload-Digest", "Content-Type")} == {
        "WARC-Refers-To": original["WARC-Record-ID"], "WARC-Refers-To-Target-URI": f"{site.base}/page",
        "WARC-Refers-To-Date": original["WARC-Date"], "WARC-Payload-Digest": original["WARC-Payload-Digest"],
        "Content-Type": "application/http; msgtype=response"}
    assert body == b""  # headers only: the payload is the original's


@pytest.mark.slow
@pytest.mark.parametrize("what", ["wacz", "bag warc"])
def test_pywb_replays_the_case_file_url(exported: dict[str, Path], site: Site, tmp_path: Path, what: str) -> None:
    source = exported["wacz"] if what == "wacz" else exported["bag"] / "data" / "warc" / "interop.warc.gz"
    revisit_date = next(h["WARC-Date"] for t, h in _warc_headers(exported["bag"] / "data" / "warc" / "interop.warc.gz")
                        if t == "revisit" and h["WARC-Target-URI"] == f"{site.base}/gz")
    with pywb(source, tmp_path / "pywb") as base:
        with httpx.Client(timeout=20) as client:
            # the URL the case file names: 301, 302, then the page, all from the package
            r = client.get(f"{base}/id_/{site.base}/old/p")
            assert (r.status_code, r.headers["location"], r.content) == (301, "/go/p", b"moved")  # as it was sent
            r = client.get(f"{base}/mp_/{site.base}/old/p", follow_redirects=True)  # pywb rewrites each Location
            assert [h.status_code for h in r.history] == [301, 302]
            assert r.status_code == 200 and "the hearing was moved to a closed court" in r.text
            stamp, _, url = str(r.url).removeprefix(base + "/").partition("mp_/")
            assert url == f"{site.base}/page"
            r = client.get(f"{base}/{stamp}id_/{url}")  # the page's bytes, unrewritten
            assert (r.status_code, r.content) == (200, PAGE)
            # a revisit replays with the payload of the record it refers to, sent as it was sent
            when = dt.datetime.strptime(revisit_date[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
            r = client.get(f"{base}/{when:%Y%m%d%H%M%S}id_/{site.base}/gz")
            assert r.headers["memento-datetime"] == email.utils.format_datetime(when, usegmt=True)  # the revisit
            assert (r.status_code, r.headers["content-encoding"], r.content) == (200, "gzip", GZ_TEXT)
            # the local document, by its urn:khronika: address
            r = client.get(f"{base}/id_/urn:khronika:case/interop/docs/statement.txt")
            assert (r.status_code, r.content) == (200, STATEMENT)


def test_wacz_pages_come_from_the_captures(exported: dict[str, Path], site: Site) -> None:
    rows = query(exported["archive"] / "archive.db",
                 "SELECT id, url, captured_at FROM captures WHERE method = 'http' ORDER BY id")
    with zipfile.ZipFile(exported["wacz"]) as z:
        lines = [json.loads(line) for line in z.read("pages/pages.jsonl").splitlines()]
        names = sorted(z.namelist())
    assert lines == [
        {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"},
        {"id": f"capture-{rows[0][0]}", "url": f"{site.base}/old/p", "ts": rows[0][2], "title": "Interop page"},
        {"id": f"capture-{rows[1][0]}", "url": f"{site.base}/gz", "ts": rows[1][2], "title": "Zipped"},
    ]
    assert names == ["archive/interop.warc.gz", "datapackage-digest.json", "datapackage.json",
                     "indexes/index.cdx.gz", "indexes/index.idx", "pages/pages.jsonl"]


def test_bag_is_valid_for_bagit_and_bagit_utils(exported: dict[str, Path]) -> None:
    bagit.Bag(str(exported["bag"])).validate()
    report = bagit_utils.Bag(exported["bag"], load=True).validate()
    assert (report.valid, [(i.level, i.message) for i in report.issues]) == (True, [])


SHADOWS = {
    "missing": {"__init__.py": "raise ImportError('No module named wacz')\n"},
    "broken": {"__init__.py": "", "__main__.py": "import sys\nsys.exit('wacz: cannot write the archive')\n"},
}


@pytest.mark.parametrize("how", list(SHADOWS))
def test_failed_wacz_export_leaves_nothing(exported: dict[str, Path], tmp_path: Path, how: str) -> None:
    shadow = tmp_path / "shadow" / "wacz"
    shadow.mkdir(parents=True)
    for name, text in SHADOWS[how].items():
        (shadow / name).write_text(text, "utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": f"{shadow.parent}{os.pathsep}{ROOT}"}
    proc = subprocess.run([sys.executable, "-m", "ingest", "export", "interop", "--archive", str(exported["archive"]),
                           "--out", str(out), "--zip", "--wacz"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode != 0
    assert {"missing": "--wacz needs the wacz package (pip install 'khronika[wacz]'); nothing was written",
            "broken": "wacz create failed: wacz: cannot write the archive"}[how] in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shadow"]  # no bag, zip, wacz or partial file
    again = khronika("export", "interop", "--archive", str(exported["archive"]), "--out", str(out), "--zip", "--wacz")
    assert again.code == 0, again.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.wacz", "out.zip", "shadow"]
    shutil.rmtree(out)


def test_an_outsider_checks_archive_and_bag_from_the_formats_document(exported: dict[str, Path], site: Site) -> None:
    import ast

    import independent_verifier as iv

    tree = ast.parse(Path(iv.__file__).read_text("utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(str(m).split(".")[0] in ("ingest", "conftest") for m in modules)
    archive, bag = exported["archive"], exported["bag"]
    assert iv.check_archive_log(archive) == exported["head"]
    store = iv.check_content_store(archive)
    seen: dict[str, tuple[dict[str, str], bytes]] = {}
    for headers, block in iv.check_warcs(sorted((archive / "warc").glob("*.warc.gz"))):
        if headers["WARC-Type"] in ("response", "resource"):
            seen.setdefault(headers["WARC-Target-URI"], (headers, block))
    # content hashes are of the decoded body, payload digests of the body as sent
    captures = dict(query(archive / "archive.db", "SELECT coalesce(final_url, 'local'), blake3 FROM captures"))
    for uri, key in ((f"{site.base}/page", f"{site.base}/page"), (f"{site.base}/gz", f"{site.base}/gz"),
                     ("urn:khronika:case/interop/docs/statement.txt", "local")):
        headers, block = seen[uri]
        sha, _ = store[captures[key]]
        assert iv.sha256_hex(iv.content_of(block, headers)) == sha
        assert headers["WARC-Payload-Digest"] == iv.warc_digest(iv.payload(block, headers))
        same = headers["WARC-Payload-Digest"] == iv.warc_digest(iv.content_of(block, headers))
        assert same == (uri != f"{site.base}/gz"), uri  # only the gzip page's two hashes differ
    doc = iv.check_bag(bag, exported["fp"])  # type: ignore[arg-type]
    assert doc["log_head"] == exported["head"]
    bag_records = iv.check_warcs([bag / "data" / "warc" / "interop.warc.gz"])
    assert [h["WARC-Type"] for h, _ in bag_records].count("warcinfo") == 2


def test_export_refuses_records_that_are_not_the_recorded_hops(exported: dict[str, Path], site: Site,
                                                                tmp_path: Path) -> None:
    import sqlite_utils

    from ingest.evidence.bagwarc import WarcCopyError, copy_warc_records
    from ingest.evidence.rows import case_rows

    rows = case_rows(sqlite_utils.Database(exported["archive"] / "archive.db"), "interop")
    cap = next(c for c in rows.tables["captures"] if c["url"] == f"{site.base}/old/p")
    hops = json.loads(cap["hops"])
    hops[1]["url"] = f"{site.base}/elsewhere"
    cap["hops"] = json.dumps(hops)
    with pytest.raises(WarcCopyError) as e:
        copy_warc_records(exported["archive"], rows, tmp_path / "x.warc.gz")
    assert str(e.value) == (f"WARC file {cap['warc_file']} (captures {cap['id']}): the WARC records before offset "
                            f"{cap['warc_offset']} are not the 3 recorded hop(s)")


def test_no_revisit_of_a_record_that_cannot_be_read(exported: dict[str, Path]) -> None:
    from ingest.capture.warc import earlier_response

    archive = exported["archive"]
    (name, offset), = query(archive / "archive.db", "SELECT warc_file, warc_offset FROM captures WHERE url LIKE '%/gz'")
    found = earlier_response(archive, name, offset)
    assert found is not None and found.warc_type == "response"
    assert [earlier_response(archive, n, o) for n, o in ((name, offset + 1), ("gone.warc.gz", 0), ("../" + name, offset),
                                                           (None, None))] == [None, None, None, None]
