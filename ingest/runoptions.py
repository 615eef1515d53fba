"""What one ingest run is asked to do (`run`'s options as the pipeline takes them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.capture.browser import BrowserOptions
from ingest.capture.local import MAX_LOCAL
from ingest.text.workerproc import WorkerLimits

if TYPE_CHECKING:
    from ingest.capture.fetch import FetchConfig


def _fetch_module():  # type: ignore[no-untyped-def]
    """ingest.capture.fetch, imported when a URL is fetched: a re-run that fetches nothing skips httpx."""
    from ingest.capture import fetch

    return fetch


@dataclass
class RunOptions:
    refresh: bool = False
    offline: bool = False
    # A FetchConfig, or a function that makes one when the first URL is fetched.
    fetch: FetchConfig | Callable[[], FetchConfig] = field(default_factory=lambda: _fetch_module().FetchConfig())
    workers: int = 1
    max_local: int = MAX_LOCAL  # bytes of one local document, counted while reading
    limits: WorkerLimits = field(default_factory=WorkerLimits)
    ocr: bool = True  # OCR images and PDF pages without a text layer (run --no-ocr: off)
    browser: BrowserOptions = field(default_factory=BrowserOptions)
    # "case": in the browser only the sources whose case file says `capture: browser`; "auto": also
    # every page whose HTTP capture is incomplete (its text is not in it), after that capture.
    browser_mode: str = "case"
    visibility: str = "full"  # full: static pass, then Chromium | static: no browser | off: not judged
    rehash: bool = False  # read every local document, even one that fstat says is unchanged
    # Group commit: one log fsync and one database commit per this many sources, or per this
    # many seconds, whichever comes first (a crash loses at most the last group).
    group_sources: int = 64
    group_seconds: float = 1.0
    telegram_api: Any = None  # capture/tgapi.ApiConfig: posts whose web preview shows nothing are asked through the API
