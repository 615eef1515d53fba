"""Visibility states of a quote, and how the verdicts on its pieces and its occurrences combine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

VISIBLE = "visible"
INTERACTION = "visible on interaction"  # e.g. inside a closed <details>: found, and flagged
HIDDEN = "hidden"
UNCHECKED = "visibility unchecked"  # nothing could decide it: never counted as visible
UNDECIDED = "undecided"  # the static pass's own answer when it cannot tell; never recorded
STATES = (VISIBLE, INTERACTION, HIDDEN, UNCHECKED)

MIN_FONT_PX = 4.0  # text set smaller than this (CSS px) is not read by anyone
MIN_CONTRAST = 1.5  # WCAG contrast ratio below which text and background look alike
HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class Verdict:
    state: str
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict, compare=False)


def font_reason(px: float) -> str | None:
    if px <= 0:
        return "font size 0"
    if px < MIN_FONT_PX:
        return f"font size below {MIN_FONT_PX:g} px"
    return None


def occurrence(pieces: Iterable[Verdict]) -> Verdict:
    """One occurrence: hidden if any piece is; else undecided, else on interaction, else visible."""
    pieces = list(pieces)
    if not pieces:
        return Verdict(UNCHECKED, "no text of the quote to judge")
    for state in (HIDDEN, UNCHECKED, UNDECIDED, INTERACTION):
        for v in pieces:
            if v.state == state:
                return v
    return Verdict(VISIBLE)


def best(occurrences: Iterable[Verdict]) -> Verdict | None:
    """The quote: seen if any occurrence is seen; hidden only if every occurrence is."""
    order = {VISIBLE: 0, INTERACTION: 1, UNDECIDED: 2, UNCHECKED: 3, HIDDEN: 4}
    found = sorted(occurrences, key=lambda v: order[v.state])
    return found[0] if found else None


def is_html(media_type: str | None) -> bool:
    return (media_type or "").split(";")[0].strip().lower() in HTML_TYPES
