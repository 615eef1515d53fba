"""The site in real headless Chromium, served by a real `python -m ingest serve` process."""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Site, start_serve, stop_serve

from test_web import STATEMENT_B3, build_archive  # noqa: E402


@pytest.fixture(scope="module")
def pixel_site() -> Iterator[Site]:
    site = Site()
    site.set("/pixel.png", b"\x89PNG\r\n\x1a\n", Content_Type="image/png")
    yield site
    site.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pixel_site: Site) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("browser")
    archive = build_archive(folder, extra_html=f'<p>A photo:</p><img src="{pixel_site.url("/pixel.png")}">')
    proc, base = start_serve(archive, folder / "serve.log")
    yield base, archive
    stop_serve(proc)


def test_serve_said_it_made_the_published_copy_and_shows_no_local_path(server: tuple[str, Path]) -> None:
    base, archive = server
    for path in ("/-/databases.json", "/-/metadata.json", "/-/plugins.json", "/-/settings.json"):
        body = urllib.request.urlopen(base + path, timeout=5).read().decode()
        assert str(archive) not in body and str(ROOT) not in body, path
    assert (archive / "published" / "archive.db").is_file()
    said = (archive.parent / "serve.log").read_text().splitlines()
    assert said[:2] == ["published copy rebuilt: no published copy yet",
                        f"serving {base}/"]


def test_claim_page_highlights_the_quote_and_links_the_archived_bytes(server: tuple[str, Path], browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    page.goto(base + "/-/claim/workers-power/uvarov-installation")
    mark = page.locator("mark")
    assert mark.count() == 1
    assert mark.inner_text() == "an installation that appeared on March 24 on the monument to Count Uvarov"
    assert "This does not prove the claim true." in page.inner_text("body")
    page.screenshot(path=str(tmp_path / "claim-page.png"), full_page=False)
    committed = ROOT / "docs" / "claim-page.png"
    if not committed.exists() or os.environ.get("KHRONIKA_UPDATE_SCREENSHOTS") == "1":
        committed.parent.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "claim-page.png", committed)
    with page.expect_response(lambda r: "/-/archive/" in r.url) as info:
        page.click("a.archived-copy")
    response = info.value
    assert response.status == 200
    assert response.body() == (ROOT / "cases" / "workers-power" / "statement.txt").read_bytes()
    assert response.headers["x-khronika-blake3"] == STATEMENT_B3
    page.screenshot(path=str(tmp_path / "archived-copy.png"))
    page.close()


@pytest.mark.parametrize("path", ["/-/claim/hostile/wall-painting", "/-/source/hostile/report", "/-/timeline/hostile",
                                  "/-/search?q=painted", "/"])
def test_hostile_text_is_shown_as_text(server: tuple[str, Path], browser, path: str) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(base + path)
    page.wait_for_load_state("load")
    visible = page.inner_text("body")
    assert "<script>alert(1)</script>" in visible
    if path.startswith("/-/claim"):
        assert "<img src=x onerror=alert(1)> and a link javascript:alert(1)" in visible
    assert page.locator("[onerror]").count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert dialogs == []
    page.close()


def test_archived_html_makes_no_outside_request(server: tuple[str, Path], browser, pixel_site: Site) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    base, archive = server
    b3 = sqlite3.connect(archive / "published" / "archive.db").execute(
        "SELECT blake3 FROM captures WHERE source_id = 'hostile/report'").fetchone()[0]
    assert pixel_site.url("/pixel.png").encode() in (archive / "files" / b3[:2] / b3).read_bytes()
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    response = page.goto(f"{base}/-/archive/{b3}")
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    assert "Witnesses said that <script>alert(1)</script> was painted" in page.inner_text("body")
    assert pixel_site.hits.get("/pixel.png", 0) == 0
    assert dialogs == []
    page.close()
