"""Printing for the command line: every line with its control characters escaped, many lines in one write."""

from __future__ import annotations

import time
from typing import Any

import click

from ingest.display import for_terminal


def echo(text: object = "", **kwargs: Any) -> None:
    """Print one line. Every line goes through here, so that text taken from case files, sources
    and bags (a title, a URL, a reason) cannot drive the terminal: its control characters are
    printed escaped and its bidi controls as <U+202E> marks."""
    click.echo(for_terminal(text), **kwargs)


def echo_lines(lines: list[str], **kwargs: Any) -> None:
    """Print many lines, each as `echo` prints one, in one write (a run can have thousands)."""
    if lines:
        click.echo("".join(for_terminal(line) + "\n" for line in lines), nl=False, **kwargs)


class HeldLines:
    """Progress lines for a file or pipe, held and written together at most every `seconds`
    (a run over thousands of unchanged sources writes a few times, not once per source)."""

    def __init__(self, seconds: float = 0.2) -> None:
        self.seconds, self.last = seconds, time.monotonic()
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        if time.monotonic() - self.last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        lines, self.lines, self.last = self.lines, [], time.monotonic()
        echo_lines(lines, err=True)
