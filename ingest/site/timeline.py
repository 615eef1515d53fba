"""The timeline's picture: a server-drawn SVG time axis, one linked mark per dated claim."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup, escape

from ingest.site import history

STATUS_STYLE = {  # colour and shape on the timeline
    "sourced": ("#1b7f3b", "circle"),
    "partly_sourced": ("#b8860b", "square"),
    "unsourced": ("#b22222", "triangle"),
    "contested": ("#6a3d9a", "diamond"),
}


DRIFT_COLOUR = "#d35400"



def parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    parts = value.split("-")
    try:
        y = int(parts[0])
        m = int(parts[1]) if len(parts) > 1 else 1
        d = int(parts[2]) if len(parts) > 2 else 1
        return dt.date(y, m, d)
    except (ValueError, IndexError):
        return None


def shape(kind: str, x: float, y: float, colour: str) -> str:
    r = 7
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="{colour}"/>'
    if kind == "triangle":
        return f'<polygon points="{x:.1f},{y - r - 1:.1f} {x + r + 1:.1f},{y + r:.1f} {x - r - 1:.1f},{y + r:.1f}" fill="{colour}"/>'
    return f'<polygon points="{x:.1f},{y - r - 2:.1f} {x + r + 2:.1f},{y:.1f} {x:.1f},{y + r + 2:.1f} {x - r - 2:.1f},{y:.1f}" fill="{colour}"/>'


def months_between(a: dt.date, b: dt.date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def add_months(d: dt.date, n: int) -> dt.date:
    m = d.month - 1 + n
    return dt.date(d.year + m // 12, m % 12 + 1, 1)


STEPS = (1, 2, 3, 6, 12, 24, 60, 120)  # months between axis labels, the first that leaves room
LABEL_WIDTH = {False: 64, True: 40}  # pixels a "Oct 2019" or a "2019" label needs
BREAK = 44  # pixels of a gap left out of the axis
MARK = 16  # pixels between stacked marks


def segments(dates: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """The axis as runs of months [start, end): a gap between claims longer than a quarter of the
    whole span (and than a year) is left out, so one outlying date does not squeeze the others."""
    days = sorted(set(dates))
    first, last = days[0].replace(day=1), add_months(days[-1].replace(day=1), 1)
    limit = max(365, (last - first).days // 4)
    out: list[tuple[dt.date, dt.date]] = []
    start = first
    for a, b in zip(days, days[1:]):
        if (b - a).days > limit:
            out.append((start, add_months(a.replace(day=1), 1)))
            start = b.replace(day=1)
    out.append((start, last))
    return out


class Axis:
    """Dates to x positions over the segments, each given room in proportion to its length."""

    def __init__(self, parts: list[tuple[dt.date, dt.date]], left: float, right: float) -> None:
        self.parts = parts
        usable = right - left - BREAK * (len(parts) - 1)
        total = sum(max((b - a).days, 1) for a, b in parts)
        self.spans: list[tuple[dt.date, dt.date, float, float]] = []
        x = left
        for a, b in parts:
            w = usable * max((b - a).days, 1) / total
            self.spans.append((a, b, x, x + w))
            x += w + BREAK

    def x(self, d: dt.date) -> float:
        for a, b, x0, x1 in self.spans:
            if a <= d < b or (d == b and (a, b) == self.parts[-1]):
                return x0 + (x1 - x0) * (d - a).days / max((b - a).days, 1)
        return self.spans[-1][3]

    def ticks(self) -> list[tuple[dt.date, float, str]]:
        """(date, x, label) of each labelled month: every `step` months, the step the first that
        leaves a label's width between labels; years alone once the step is a year or more."""
        out = []
        for a, b, x0, x1 in self.spans:
            months = max(months_between(a, b), 1)
            per_month = (x1 - x0) / months
            step = next((s for s in STEPS if per_month * s >= LABEL_WIDTH[s >= 12]), STEPS[-1])
            tick = a if step < 12 else dt.date(a.year + (a.month != 1), 1, 1)
            last = (a, b) == self.parts[-1]
            while tick < b or (last and tick == b):
                out.append((tick, self.x(tick), f"{tick:%Y}" if step >= 12 else f"{tick:%b %Y}"))
                tick = add_months(tick, step)
        return out


def _levels(marks: list[tuple[float, Any]]) -> list[int]:
    """A stacking level per mark (sorted by x): the lowest whose last mark is clear of this one."""
    ends: list[float] = []
    out = []
    for x, _ in marks:
        level = next((i for i, e in enumerate(ends) if x - e >= MARK), len(ends))
        if level == len(ends):
            ends.append(x)
        else:
            ends[level] = x
        out.append(level)
    return out


def timeline_svg(claims: list[dict[str, Any]]) -> Markup:
    """A server-drawn time axis: one linked mark per dated claim, a lane per claim type; marks
    that would overlap are stacked, and long empty stretches are left out (marked as breaks)."""
    dated = [(parse_date(c["date"]), c) for c in claims]
    dated = [(d, c) for d, c in dated if d is not None]
    if not dated:
        return Markup("")
    types = sorted({c["type"] or "other" for _, c in dated})
    left, right, top, width = 170, 30, 30, 900
    axis = Axis(segments([d for d, _ in dated]), left, width - right)
    placed: dict[str, list[tuple[float, Any]]] = {t: [] for t in types}
    for d, c in sorted(dated, key=lambda p: (p[0], p[1]["id"])):
        placed[c["type"] or "other"].append((axis.x(d), c))
    levels = {t: _levels(placed[t]) for t in types}
    heights = {t: 34 + MARK * max(levels[t], default=0) for t in types}
    height = top + sum(heights.values()) + 44
    axis_y = top + sum(heights.values()) + 6
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="timeline" '
           f'role="img" aria-label="Timeline of dated claims">']
    for a, b, x0, x1 in axis.spans:
        out.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{axis_y}" y2="{axis_y}" class="axis"/>')
    for (a0, b0, _, end), (a1, _, start, _) in zip(axis.spans, axis.spans[1:]):
        mid = (end + start) / 2
        years = round((a1 - b0).days / 365.25, 1)
        out.append(f'<text x="{mid:.1f}" y="{axis_y + 5}" text-anchor="middle" class="axis-break">≈'
                   f'<title>{years:g} years without a dated claim are left out here</title></text>')
    for _, x, label in axis.ticks():
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{axis_y + 5}" class="tick"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 20}" text-anchor="middle" class="ticklabel">{label}</text>')
    y0 = top
    for t in types:
        mid = y0 + 17
        out.append(f'<text x="{left - 10}" y="{mid + 4:.1f}" text-anchor="end" class="lane">{escape(t)}</text>')
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{mid:.1f}" y2="{mid:.1f}" class="laneline"/>')
        for (x, c), level in zip(placed[t], levels[t]):
            out.append(_mark(c, x, mid + MARK * level))
        y0 += heights[t]
    out.append("</svg>")
    return Markup("".join(out))


def _mark(c: dict[str, Any], x: float, y: float) -> str:
    colour, kind = STATUS_STYLE.get(c["status"] or "", ("#555555", "diamond"))
    drift = history.drift_label(c.get("drift"), c.get("drift_since"))
    label = f"{c['date']} · {c['status']}{f' · live source {drift}' if drift else ''} · {c['text'][:140]}"
    # A claim whose live sources moved since the archived copy gets a dashed ring round its mark.
    ring = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="12" class="drift-ring" fill="none" stroke="{DRIFT_COLOUR}" '
            f'stroke-width="2.5" stroke-dasharray="4 2"/>') if drift else ""
    return (f'<a href="{escape(claim_href(c["id"]))}" class="mark{" drifted" if drift else ""}" '
            f'data-claim="{escape(c["id"])}"><title>{escape(label)}</title>{shape(kind, x, y, colour)}{ring}</a>')


def claim_href(claim_id: str) -> str:
    return f"/-/claim/{claim_id}"


