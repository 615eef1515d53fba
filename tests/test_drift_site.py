"""Drift on the served site, in real headless Chromium, and a `python -m ingest serve` that follows the archive."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Site, khronika, start_serve
from test_drift import db_rows, drift_sources, first_run, since_of
from test_web import make_datasette, text_of

from ingest.capture.chromium import launched
from ingest.claims.drift import day

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def status_of(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=2).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return 0  # the site restarting on the new copy: a moment with nothing listening


@pytest.fixture
def drifted_serve(tmp_path: Path, site: Site) -> Iterator[tuple[Path, Path, str]]:
    case, archive = first_run(tmp_path, site)
    drift_sources(case, site)
    assert khronika("run", str(case), "--archive", str(archive), "--refresh").code == 1
    proc, base = start_serve(archive, tmp_path / "serve.log", own_group=False)
    yield case, archive, base
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


def test_claim_page_banner_and_timeline_marks_in_chromium(drifted_serve: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, archive, base = drifted_serve
    (captured,) = db_rows(archive, "SELECT captured_at FROM captures WHERE id = 1")[0]
    with launched() as (browser, _):
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(base + "/-/claim/t/held")
        banner = page.locator(".drift-banner")
        assert banner.count() == 1
        assert banner.inner_text() == (f"Sourced in the archived copy of {day(captured)}; the quoted sentence was changed "
                                       f"on the live page by {day(since_of(archive, 't/held#1'))}.")
        assert banner.is_visible()
        page.screenshot(path=str(tmp_path / "claim-drift.png"))
        page.goto(base + "/-/claim/t/released")
        assert page.locator(".drift-banner").inner_text().endswith(
            f"the live page was gone by {day(since_of(archive, 't/released#1'))}.")
        page.goto(base + "/-/timeline/t")
        marks = page.locator("svg.timeline a.mark.drifted")
        assert sorted(marks.nth(i).get_attribute("data-claim") for i in range(marks.count())) == [
            "t/decision", "t/held", "t/released"]
        assert page.locator("svg.timeline circle.drift-ring").count() == 3
        assert page.locator("svg.timeline circle.drift-ring").first.is_visible()
        page.screenshot(path=str(tmp_path / "timeline-drift.png"))


def test_serve_started_before_a_run_shows_the_new_claim_after_it(drifted_serve: tuple[Path, Path, str]) -> None:
    case, archive, base = drifted_serve
    assert status_of(base + "/-/claim/t/new") == 404
    text = case.read_text(encoding="utf-8")
    case.write_text(text + """  - id: new
    text: A claim added after the site started.
    citations:
      - source: decision
        quote: "Защита обжалует решение"
        stance: supports
""", encoding="utf-8")
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    deadline = time.monotonic() + 30
    while status_of(base + "/-/claim/t/new") != 200:
        assert time.monotonic() < deadline, "the site did not follow the archive within 30 s"
        time.sleep(0.3)
    body = urllib.request.urlopen(base + "/-/claim/t/new", timeout=5).read().decode()
    assert "A claim added after the site started." in body
    assert 'class="stale-banner"' not in body
    log = (archive.parent / "serve.log").read_text()
    assert "published copy rebuilt: the archive changed since the published copy was made (log seq " in log


def test_pages_say_when_the_published_copy_is_older_than_the_archive(tmp_path: Path, site: Site) -> None:
    case, archive = first_run(tmp_path, site)
    ds = make_datasette(archive)
    assert 'class="stale-banner"' not in text_of(ds, "/-/claim/t/held")
    (seq,) = db_rows(archive, "SELECT max(seq) FROM log")[0]
    drift_sources(case, site)
    assert khronika("run", str(case), "--archive", str(archive), "--refresh").code == 1
    (now,) = db_rows(archive, "SELECT max(seq) FROM log")[0]
    assert ('<p class="stale-banner" role="status">This published copy is older than the archive: the archive changed '
            f"since the published copy was made (log seq {seq} -&gt; {now}, verify runs 0 -&gt; 0). It is being "
            "republished; reload in a few seconds.</p>") in text_of(ds, "/-/claim/t/held")


def test_sigterm_to_serve_ends_datasette_and_leaves_nothing_listening(tmp_path: Path, site: Site) -> None:
    _, archive = first_run(tmp_path, site)
    proc, base = start_serve(archive, tmp_path / "serve.log", own_group=False)
    kids = children(proc.pid)
    assert len(kids) == 1
    proc.send_signal(signal.SIGTERM)  # to serve alone, not to its process group
    assert proc.wait(timeout=15) == 0
    deadline = time.monotonic() + 10
    while Path(f"/proc/{kids[0]}").exists():
        assert time.monotonic() < deadline, "Datasette is still running after serve ended"
        time.sleep(0.1)
    port = int(base.rsplit(":", 1)[1])
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))
