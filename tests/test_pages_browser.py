"""The pages of issue 19 in real headless Chromium: the timeline's labels and stacked marks, the
archived copy framed under its sandbox, citation by selection, and the home page (screenshots
for the README are written to docs/ when missing or with KHRONIKA_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, start_serve, stop_serve

from test_pages import DOC, build  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("pages-browser")
    archive = build(folder)
    proc, base = start_serve(archive, folder / "serve.log", wait=60)
    yield base, archive
    stop_serve(proc)


def keep(page: Any, name: str, tmp_path: Path, full_page: bool = False) -> None:
    """A screenshot in tmp_path, and in docs/ for the README when it is missing or asked for."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=full_page)
    committed = ROOT / "docs" / name
    if not committed.exists() or os.environ.get("KHRONIKA_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(shot, committed)


def boxes(page: Any, selector: str) -> list[dict[str, float]]:
    loc = page.locator(selector)
    return [loc.nth(i).bounding_box() for i in range(loc.count())]


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_timeline_labels_are_apart_and_marks_of_one_date_do_not_cover_each_other(
        server: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    base, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(base + "/-/timeline/pages")
    labels = boxes(page, "svg.timeline text.ticklabel")
    assert [page.locator("svg.timeline text.ticklabel").nth(i).inner_html() for i in range(len(labels))] == [
        "Oct 2019", "May 2025", "Jun 2025"]
    assert not any(overlap(a, b) for i, a in enumerate(labels) for b in labels[i + 1:])
    marks = boxes(page, "svg.timeline a.mark")
    assert len(marks) == 4
    assert not any(overlap(a, b) for i, a in enumerate(marks) for b in marks[i + 1:])
    assert page.locator("svg.timeline text.axis-break").count() == 1
    keep(page, "timeline.png", tmp_path)
    page.close()


def test_the_archived_copy_is_framed_under_its_sandbox(server: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    base, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 1100})
    page.goto(base + "/-/claim/pages/closed")
    page.click("a.copy-page >> nth=0")
    page.wait_for_load_state("load")
    assert page.url.startswith(base + "/-/copy/") and page.url.endswith("?citation=pages/closed%231")
    banner = page.inner_text(".copy-banner")
    assert "This is Khronika's archived copy of the source, kept byte for byte as captured." in banner
    assert "BLAKE3" in banner and "SHA-256" in banner and "WARC record" in banner
    frame = page.frame_locator("iframe.archived")
    assert "The hearing of the case was closed to the press" in frame.locator("body").inner_text()
    # The archived page's script did not run: neither its own title nor Khronika's changed.
    assert page.title().startswith("Archived copy ")
    assert page.frames[1].evaluate("document.title") == "Court news"
    assert page.locator("mark").inner_text() == "The hearing of the case was closed to the press"
    keep(page, "archived-copy.png", tmp_path)
    page.close()


def test_selecting_a_passage_shows_the_citation_to_paste(server: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    base, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(base + "/-/source/pages/doc/text")
    assert page.locator("#citation").is_hidden()
    start, end = DOC.index("the judge"), DOC.index(" for two")
    page.evaluate("""([start, end]) => {
        const node = document.getElementById("source-text").firstChild;
        const range = document.createRange();
        range.setStart(node, start);
        range.setEnd(node, end);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        document.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
    }""", [start, end])
    page.wait_for_selector("#citation:not([hidden])")
    assert page.inner_text("#citation-block") == (
        '- source: doc\n  quote: "the judge ordered the detention of Harry Azaryan"\n'
        "  stance: mentions   # choose: supports | contradicts | mentions")
    assert page.get_attribute("#citation", "data-state") == "anchored"
    keep(page, "cite-selection.png", tmp_path)
    page.close()


def test_home_page_in_chromium(server: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    base, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(base + "/")
    state = page.inner_text(".case-state")
    assert state.startswith("4 claims: 2 sourced · 1 partly sourced · 1 unsourced · 0 contested · 0 drifting")
    assert page.inner_text(".last-verify").endswith("exit code 1) · every check")
    keep(page, "home.png", tmp_path)
    page.close()


def test_the_search_filters_do_not_cover_each_other(server: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    """Datasette's own style gives a form's labels a fixed width; a select wider than it ran over the next label."""
    base, _ = server
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    page.goto(base + "/-/search?q=court")
    parts = boxes(page, "p.filters label, p.filters select, p.filters input")
    assert len(parts) == 8  # four labels, each with its control
    labels, controls = parts[0::2], parts[1::2]
    # each control lies inside its label, and no two labels meet
    for label, control in zip(labels, controls, strict=True):
        assert label["x"] <= control["x"] and control["x"] + control["width"] <= label["x"] + label["width"] + 0.5
    assert not any(overlap(a, b) for i, a in enumerate(labels) for b in labels[i + 1:])
    page.close()
