"""Browser capture: the page as headless Chromium renders it, every exchange recorded by the proxy.

One capture: start the recording proxy (`capture/proxy`), open a fresh browser context whose every
request goes through it (loopback included), load the page, wait for the network to be idle
(capped), scroll down to load lazy content (bounded), then keep the rendered DOM, a full-page
screenshot (height capped) and a print-to-PDF, with a provenance record of everything done.
Nothing is clicked: a consent banner is captured as the reader got it. The outcome is
`complete`, `partial` (listing what failed, was refused, hit a limit, was unfinished or cut) or
`failed` (with the reason); a partial capture never passes for a complete one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from ingest import __version__
from ingest.store.log import utcnow as now
from ingest.capture import procs
from ingest.capture.hops import Hop
from ingest.capture.proxy import Failure, Recorded, RecordingProxy

COMPLETE, PARTIAL, FAILED = "complete", "partial", "failed"


@dataclass
class BrowserOptions:
    """Every option a browser capture takes; all are recorded in its provenance."""

    page_timeout: float = 60.0  # seconds for the whole page: navigation, waits and scrolling
    idle_cap: float = 10.0  # seconds to wait for the network to be idle, at most (twice: after load, after scrolling)
    max_scrolls: int = 20  # viewport-heights scrolled down to load lazy content, at most
    scroll_pause: float = 0.3  # seconds after each scroll step
    max_requests: int = 500  # requests the proxy passes on; later ones are refused and listed
    max_bytes: int = 128 * 2**20  # response bytes the proxy accepts in total
    screenshot_height: int = 10000  # CSS pixels of the full-page screenshot, at most (the rest is cut, and said)
    viewport_width: int = 1280
    viewport_height: int = 900
    pdf: bool = True
    allow_private: bool = False
    ca_file: str | None = None  # extra trust anchors for the proxy's connections (PEM)
    resolve: tuple[str, ...] = ()  # run --resolve HOST:PORT:ADDRESS[,ADDRESS] entries, applied by the proxy


@dataclass
class BrowserCapture:
    url: str
    started_at: str
    outcome: str
    reason: str | None
    final_url: str | None = None
    status: int | None = None
    dom: bytes | None = None  # the rendered DOM after scripts, serialised as UTF-8 HTML
    screenshot: bytes | None = None  # PNG
    pdf: bytes | None = None
    recorded: Recorded = field(default_factory=Recorded)
    provenance: dict[str, Any] = field(default_factory=dict)
    tool: str = ""

    @property
    def document(self) -> Hop | None:
        """The exchange that brought the page's final document, if the proxy recorded one."""
        return next((h for h in self.recorded.exchanges if h.url == self.final_url), None)


# Chromium's own traffic stays off the proxy: no background networking, updates, sync, pings,
# metrics, phishing checks or translation; loopback goes through the proxy like any address.
EXTRA_FLAGS = ("--proxy-bypass-list=<-loopback>", "--disable-extensions", "--disable-default-apps",
               "--no-pings", "--metrics-recording-only", "--disable-client-side-phishing-detection",
               "--disable-domain-reliability", "--disable-breakpad", "--disable-component-extensions-with-background-pages",
               "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions,"
               "CalculateNativeWinOcclusion,AutofillServerCommunication,CertificateTransparencyComponentUpdater")


@contextmanager
def launched() -> Iterator[tuple[Any, str]]:
    """(browser, version) launched with the capture's flags: one browser can serve many captures,
    each in a fresh context of its own (no cookies, cache or storage carried between them)."""
    from ingest.capture import chromium

    before = browser_processes()
    with chromium.launched(extra_args=EXTRA_FLAGS) as pair:
        _STARTED[id(pair[0])] = browser_processes() - before
        try:
            yield pair
        finally:
            _STARTED.pop(id(pair[0]), None)


@contextmanager
def _given(pair: tuple[Any, str]) -> Iterator[tuple[Any, str]]:
    yield pair


class _Watch:
    """What the page's requests did, as the browser saw them (for requests still open at the snapshot)."""

    def __init__(self, page: Any) -> None:
        self.open: dict[Any, tuple[str, str, str]] = {}
        self.errors: list[str] = []
        page.on("request", lambda r: self.open.__setitem__(r, (r.url, r.method, now())))
        page.on("requestfinished", lambda r: self.open.pop(r, None))
        page.on("requestfailed", lambda r: self.open.pop(r, None))
        page.on("pageerror", lambda e: self.errors.append(f"script error: {str(e)[:300]}"))

    def unfinished(self) -> list[Failure]:
        return [Failure("unfinished", url, method, "no response yet when the page was snapshotted", at)
                for url, method, at in self.open.values()]


def _wait(page: Any, state: str, cap: float, timings: dict[str, Any], name: str) -> bool:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    t0 = time.monotonic()
    try:
        page.wait_for_load_state(state, timeout=max(cap, 0.001) * 1000)
    except PlaywrightTimeout:
        timings[name] = f"not reached within {cap:.1f} s"
        return False
    timings[name] = f"reached after {time.monotonic() - t0:.2f} s"
    return True


def _scroll(page: Any, options: BrowserOptions, deadline: float) -> int:
    steps = 0
    for _ in range(options.max_scrolls):
        if time.monotonic() > deadline:
            break
        at_end = page.evaluate("""() => { const e = document.scrollingElement || document.documentElement;
            window.scrollBy(0, window.innerHeight); return e.scrollTop + window.innerHeight >= e.scrollHeight; }""")
        steps += 1
        page.wait_for_timeout(options.scroll_pause * 1000)
        if at_end:
            break
    page.evaluate("() => window.scrollTo(0, 0)")
    return steps


def _snapshot(page: Any, options: BrowserOptions, cap: BrowserCapture, notes: list[str]) -> None:
    cap.dom = page.content().encode("utf-8")
    width, height = page.evaluate("""() => { const e = document.scrollingElement || document.documentElement;
        return [e.scrollWidth, e.scrollHeight]; }""")
    kept = min(height, options.screenshot_height)
    cap.screenshot = page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": options.viewport_width,
                                                           "height": max(kept, 1)}, animations="disabled")
    cap.provenance["screenshot"] = {"width": options.viewport_width, "page_width": width, "page_height": height,
                                    "height": kept, "height_cap": options.screenshot_height, "cut": height > kept}
    if height > kept:
        notes.append(f"screenshot cut at {kept} of the page's {height} pixels (limit --browser-screenshot-height)")
    if options.pdf:
        try:
            cap.pdf = page.pdf(print_background=True)
        except Exception as exc:  # noqa: BLE001 - a PDF that cannot be printed is noted, the capture goes on
            notes.append(f"print-to-PDF failed: {str(exc).splitlines()[0][:200]}")


def browser_processes() -> set[int]:
    """This process's descendants that are Chromium."""
    return {p.pid for p in procs.descendants([os.getpid()], procs.processes())
            if os.path.basename(procs.program(p.pid)) in ("chromium", "chrome", "headless_shell")}


# The processes of each browser `launched()` started, so a watchdog kills that browser and no other.
_STARTED: dict[int, set[int]] = {}


def _kill_browser(browser: Any, fired: list[bool]) -> None:
    fired.append(True)
    roots = _STARTED.get(id(browser), set())
    for pid in roots | {p.pid for p in procs.descendants(roots, procs.processes())}:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def watchdog_seconds(options: BrowserOptions) -> float:
    """When a page still holds the browser, it is killed: a script can block every step Playwright
    does not time out itself (reading the DOM, scrolling)."""
    return options.page_timeout * 1.5 + 5


def capture(url: str, options: BrowserOptions, browser: tuple[Any, str] | None = None) -> BrowserCapture:
    """Capture `url` in the browser behind the recording proxy; never raises for the page's own failures.

    `browser` is a (browser, version) pair from `launched()` to reuse; without it one is launched."""
    started = now()
    t0 = time.monotonic()
    cap = BrowserCapture(url, started, FAILED, None)
    unfinished: list[Failure] = []
    timings: dict[str, Any] = {"started_at": started}
    notes: list[str] = []
    cap.provenance = {"tool": f"khronika {__version__}", "url": url, "options": asdict(options),
                      "flags": [], "timings": timings, "errors": [],
                      "public_address": None,
                      "public_address_note": "not known: the capture does not ask a third party which address it came from"}
    with RecordingProxy(options.allow_private, options.max_requests, options.max_bytes, options.ca_file,
                        options.resolve) as proxy:
        cap.provenance["proxy"] = proxy.version
        fired: list[bool] = []
        dog: threading.Timer | None = None
        try:
            with (_given(browser) if browser else launched()) as (running, version):
                from ingest.capture import chromium

                cap.tool = f"khronika/{__version__} {version} {proxy.version}"
                cap.provenance.update(browser=version, flags=[*chromium.FLAGS, *EXTRA_FLAGS])
                dog = threading.Timer(watchdog_seconds(options), _kill_browser, [running, fired])
                dog.daemon = True
                dog.start()
                unfinished = _render(running, proxy.port, url, options, cap, timings, notes, t0)
        except Exception as exc:  # noqa: BLE001 - Playwright's errors: the browser died or was killed
            if not fired and type(exc).__module__.split(".")[0] != "playwright":
                raise
            cap.dom = None
            cap.reason = (f"the page still held the browser after {watchdog_seconds(options):.0f} s: the browser was "
                          "killed (limit --browser-timeout)" if fired else
                          f"the browser failed: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}")
        finally:
            if dog is not None:
                dog.cancel()
            recorded = proxy.stop()
    recorded.failures += unfinished
    cap.recorded = recorded
    timings["finished_at"] = now()
    timings["seconds"] = round(time.monotonic() - t0, 3)
    _judge(cap, notes)
    return cap


def _render(browser: Any, port: int, url: str, options: BrowserOptions, cap: BrowserCapture,
            timings: dict[str, Any], notes: list[str], t0: float) -> list[Failure]:
    """Load, wait, scroll and snapshot the page; return the requests still open at the snapshot."""
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(
        proxy={"server": f"http://127.0.0.1:{port}", "bypass": "<-loopback>"},
        # The browser talks only to the proxy, which checks every certificate of the real servers
        # itself (and records each chain); the proxy's own interception certificate is not one of them.
        ignore_https_errors=True,
        viewport={"width": options.viewport_width, "height": options.viewport_height},
        service_workers="block", accept_downloads=False,
    )
    try:
        page = context.new_page()
        watch = _Watch(page)
        cap.provenance["user_agent"] = page.evaluate("() => navigator.userAgent")
        deadline = t0 + options.page_timeout
        try:
            response = page.goto(url, wait_until="domcontentloaded", timeout=options.page_timeout * 1000)
        except PlaywrightError as exc:
            cap.reason = f"the page did not load: {str(exc).splitlines()[0][:300]}"
            timings["navigation"] = cap.reason
            return []
        timings["navigation"] = f"document loaded after {time.monotonic() - t0:.2f} s"
        if response is not None:
            cap.final_url, cap.status = response.url, response.status
        left = lambda: max(min(options.idle_cap, deadline - time.monotonic()), 0.001)  # noqa: E731
        loaded = _wait(page, "load", left(), timings, "load")
        idle = _wait(page, "networkidle", left(), timings, "network_idle")
        timings["scroll_steps"] = _scroll(page, options, deadline)
        idle = _wait(page, "networkidle", left(), timings, "network_idle_after_scroll") and idle
        if not loaded:
            notes.append(f"the page's load event did not fire within {options.idle_cap:.1f} s")
        if not idle:
            notes.append(f"the network was not idle within {options.idle_cap:.1f} s (limit --browser-idle-cap): "
                         "requests were still being made")
        timings["snapshot_at"] = now()
        _snapshot(page, options, cap, notes)
        cap.provenance["errors"] = watch.errors
        return watch.unfinished()
    finally:
        context.close()


def _judge(cap: BrowserCapture, notes: list[str]) -> None:
    """Set the outcome: failed without a page, partial when anything is missing, else complete."""
    rec = cap.recorded
    cap.provenance["failures"] = [asdict(f) for f in rec.failures]
    cap.provenance["blocked"] = [asdict(f) for f in rec.failures if f.kind in ("refused", "limited")]
    if cap.dom is None:
        cap.outcome, cap.reason = FAILED, cap.reason or "no page was rendered"
    else:
        doc = cap.document
        refused = next((f for f in rec.failures if f.url == cap.final_url), None)
        if doc is None:
            cap.outcome = FAILED
            cap.reason = (f"{refused.kind}: {refused.reason} at {refused.url}" if refused
                          else f"the proxy recorded no response for the document {cap.final_url}")
        elif not 200 <= doc.status < 300:
            cap.outcome, cap.reason = FAILED, f"HTTP {doc.status} {doc.reason}".rstrip() + f" at {cap.final_url}"
        else:
            listed = [f"{f.kind}: {f.url} ({f.reason})" for f in rec.failures]
            missing = notes + listed
            cap.outcome = PARTIAL if missing else COMPLETE
            cap.reason = "; ".join(missing) if missing else None
    cap.provenance.update(outcome=cap.outcome, reason=cap.reason, notes=notes, final_url=cap.final_url,
                          status=cap.status)
