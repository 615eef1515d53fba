"""Options and builders that several commands share: the extraction workers' limits, the lazy fetch configuration."""

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


def worker_limits(extract_cpu: int, extract_memory: int, extract_timeout: float):  # type: ignore[no-untyped-def]
    from ingest.text.workers import WorkerLimits

    return WorkerLimits(cpu_seconds=extract_cpu, wall_seconds=extract_timeout, memory_bytes=extract_memory * 2**20)


def fetch_config(proxy: str | None, allow_private: bool, user_agent: str | None = None, **limits: Any):  # type: ignore[no-untyped-def]
    """A function that builds the FetchConfig when the first URL is fetched: a command that
    fetches nothing does not import httpx."""

    def build():  # type: ignore[no-untyped-def]
        from ingest.capture.fetch import FetchConfig, Limits

        config = FetchConfig(limits=Limits(**limits), proxy=proxy,
                             allow_private=allow_private or os.environ.get("KHRONIKA_ALLOW_PRIVATE") == "1")
        if user_agent:
            config.user_agent = user_agent
        return config

    return build
