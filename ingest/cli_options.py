"""Options and builders that several commands share: the extraction workers' limits, the fetch options, the lazy fetch configuration."""

from __future__ import annotations

import os
from typing import Any

import click


def extract_limits(f: Any) -> Any:
    """The sandboxed extraction workers' limits, for every command that extracts (run, verify, verify-bag)."""
    for option in reversed((
        click.option("--extract-cpu", type=click.IntRange(1), default=60, show_default=True, help="CPU seconds one extraction may use."),
        click.option("--extract-memory", type=click.IntRange(64), default=2048, show_default=True, help="MiB of memory one extraction may use."),
        click.option("--extract-timeout", type=click.FloatRange(1), default=120.0, show_default=True, help="Wall seconds one extraction may take (OCR: per page)."),
    )):
        f = option(f)
    return f


def recording_options(f: Any) -> Any:
    """How `run` reads local documents again and how often it makes what it recorded durable."""
    for option in reversed((
        click.option("--rehash", is_flag=True, help="Read and hash every local document, even one whose size, mtime, "
                     "inode and ctime are as when it was last read."),
        click.option("--commit-every", type=click.IntRange(1), default=64, show_default=True,
                     help="Sources recorded per log fsync and database commit; a crash loses at most the last "
                     "group, which the next run captures again."),
        click.option("--commit-seconds", type=click.FloatRange(0), default=1.0, show_default=True,
                     help="Or fewer: a group is made durable after this many seconds (0: after every source "
                     "and extraction)."),
    )):
        f = option(f)
    return f


def worker_limits(extract_cpu: int, extract_memory: int, extract_timeout: float):  # type: ignore[no-untyped-def]
    from ingest.text.workers import WorkerLimits

    return WorkerLimits(cpu_seconds=extract_cpu, wall_seconds=extract_timeout, memory_bytes=extract_memory * 2**20)


def _resolve_entries(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict:
    if not value:
        return {}
    from ingest.capture.policy import parse_resolve

    pins: dict[tuple[str, int], tuple[str, ...]] = {}
    for entry in value:
        try:
            key, addresses = parse_resolve(entry)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        pins[key] = addresses
    return pins


def fetch_network(f: Any) -> Any:
    """The extra trust anchors and the name mappings, for every command that fetches (run, verify --live)."""
    for option in reversed((
        click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Extra trusted CA certificates (PEM), added to the bundled ones; e.g. an inspecting proxy's."),
        click.option("--resolve", "resolve", multiple=True, metavar="HOST:PORT:ADDRESS", callback=_resolve_entries,
                     help="Connect to ADDRESS for HOST:PORT instead of looking the name up (curl's meaning; "
                          "repeatable). The address policy still applies: loopback needs --allow-private."),
    )):
        f = option(f)
    return f


def fetch_config(proxy: str | None, allow_private: bool, user_agent: str | None = None, ca_file: str | None = None,
                 resolve: dict | None = None, **limits: Any):  # type: ignore[no-untyped-def]
    """A function that builds the FetchConfig when the first URL is fetched: a command that
    fetches nothing does not import httpx."""
    if proxy and resolve:
        raise click.UsageError("--resolve and --proxy contradict each other: behind a proxy the proxy resolves names")

    def build():  # type: ignore[no-untyped-def]
        from ingest.capture.fetch import FetchConfig, Limits

        config = FetchConfig(limits=Limits(**limits), proxy=proxy,
                             allow_private=allow_private or os.environ.get("KHRONIKA_ALLOW_PRIVATE") == "1",
                             ca_file=ca_file, resolve=dict(resolve or {}))
        if user_agent:
            config.user_agent = user_agent
        return config

    return build


def browser_options(f: Any) -> Any:
    """The browser capture's mode and limits (run)."""
    for option in reversed((
        click.option("--browser", "browser_mode", type=click.Choice(["case", "auto"]), default="case", show_default=True,
                     help="case: in the browser only the sources whose case file says `capture: browser`; auto: also "
                          "every page whose HTTP capture is incomplete (both captures are kept)."),
        click.option("--browser-timeout", type=click.FloatRange(1), default=60.0, show_default=True,
                     help="Seconds for one page in the browser: loading, waiting and scrolling."),
        click.option("--browser-idle-cap", type=click.FloatRange(0), default=10.0, show_default=True,
                     help="Seconds to wait for the network to be idle, at most (after loading, after scrolling)."),
        click.option("--browser-max-requests", type=click.IntRange(1), default=500, show_default=True,
                     help="Requests one page may make; later ones are refused and listed."),
        click.option("--browser-max-bytes", type=click.IntRange(1), default=128 * 2**20, show_default=True,
                     help="Response bytes one page may receive in all."),
        click.option("--browser-screenshot-height", type=click.IntRange(100), default=10000, show_default=True,
                     help="Pixels of the full-page screenshot, at most; a longer page is cut, and the capture says so."),
    )):
        f = option(f)
    return f


def browser_settings(browser_timeout: float, browser_idle_cap: float, browser_max_requests: int,
                     browser_max_bytes: int, browser_screenshot_height: int):  # type: ignore[no-untyped-def]
    from ingest.capture.browser import BrowserOptions

    return BrowserOptions(page_timeout=browser_timeout, idle_cap=browser_idle_cap, max_requests=browser_max_requests,
                          max_bytes=browser_max_bytes, screenshot_height=browser_screenshot_height)
def visibility_option(f: Any) -> Any:
    """--visibility for run: how the visibility stage judges HTML quotes."""
    return click.option(
        "--visibility", type=click.Choice(["full", "static", "off"]), default="full", show_default=True,
        help="Judge whether readers can see HTML quotes: the static pass, then Chromium for what it cannot "
             "decide (full); no browser, the undecided recorded as unchecked (static); not now (off: such "
             "quotes do not count as found until a run judges them).")(f)
