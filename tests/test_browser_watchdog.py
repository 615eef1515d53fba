"""A page that holds the browser for ever: the watchdog kills that browser (a module of its own:
Playwright's sync API runs one instance per process, and this test must launch its own browser)."""

from __future__ import annotations

import pytest
from conftest import Site
from test_browser_capture import ICON, _ensure_mitm, opts

from ingest.capture.browser import capture


@pytest.fixture(scope="module")
def web():  # type: ignore[no-untyped-def]
    s = Site()
    yield s
    s.close()


@pytest.mark.slow
def test_a_page_whose_script_never_yields_gets_its_browser_killed(web: Site) -> None:
    from ingest.capture.browser import browser_processes

    _ensure_mitm()
    before = browser_processes()  # the module's shared browser, if it runs: never touched
    url = web.set("/spin/", (f"<!doctype html><html><head>{ICON}</head><body><p>Spinning</p><script>"
                             "addEventListener('load', () => setTimeout(() => { for (;;) {} }, 50));</script></body></html>").encode(),
                  Content_Type="text/html")
    cap = capture(url, opts(page_timeout=4.0, idle_cap=1.0))  # a browser of its own: this one is killed
    assert (cap.outcome, cap.reason) == (
        "failed", "the page still held the browser after 11 s: the browser was killed (limit --browser-timeout)")
    assert [h.url for h in cap.recorded.exchanges] == [url]  # what was received is kept
    assert browser_processes() == before
