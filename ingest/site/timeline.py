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


def timeline_svg(claims: list[dict[str, Any]]) -> Markup:
    """A server-drawn time axis: one linked mark per dated claim, a lane per claim type."""
    dated = [(parse_date(c["date"]), c) for c in claims]
    dated = [(d, c) for d, c in dated if d is not None]
    if not dated:
        return Markup("")
    types = sorted({c["type"] or "other" for _, c in dated})
    first, last = min(d for d, _ in dated), max(d for d, _ in dated)
    first = first.replace(day=1)
    last = (last.replace(day=28) + dt.timedelta(days=4)).replace(day=1)  # first day of next month
    span = max((last - first).days, 1)
    left, right, top, lane = 170, 30, 30, 34
    width = 900
    height = top + lane * len(types) + 40

    def x_of(d: dt.date) -> float:
        return left + (width - left - right) * (d - first).days / span

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="timeline" '
           f'role="img" aria-label="Timeline of dated claims">']
    for i, t in enumerate(types):
        y = top + lane * i + lane / 2
        out.append(f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end" class="lane">{escape(t)}</text>')
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="laneline"/>')
    axis_y = top + lane * len(types) + 6
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}" class="axis"/>')
    tick = first
    while tick <= last:
        x = x_of(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{axis_y + 5}" class="tick"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 20}" text-anchor="middle" class="ticklabel">{tick:%b %Y}</text>')
        tick = (tick.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    seen: dict[tuple[str, dt.date], int] = {}
    for d, c in sorted(dated, key=lambda p: (p[0], p[1]["id"])):
        t = c["type"] or "other"
        n = seen.get((t, d), 0)
        seen[(t, d)] = n + 1
        colour, kind = STATUS_STYLE.get(c["status"] or "", ("#555555", "diamond"))
        x = x_of(d) + n * 16
        y = top + lane * types.index(t) + lane / 2
        drift = history.drift_label(c.get("drift"), c.get("drift_since"))
        label = f"{c['date']} · {c['status']}{f' · live source {drift}' if drift else ''} · {c['text'][:140]}"
        # A claim whose live sources moved since the archived copy gets a dashed ring round its mark.
        ring = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="12" class="drift-ring" fill="none" stroke="{DRIFT_COLOUR}" '
                f'stroke-width="2.5" stroke-dasharray="4 2"/>') if drift else ""
        out.append(f'<a href="{escape(claim_href(c["id"]))}" class="mark{" drifted" if drift else ""}" '
                   f'data-claim="{escape(c["id"])}"><title>{escape(label)}</title>{shape(kind, x, y, colour)}{ring}</a>')
    out.append("</svg>")
    return Markup("".join(out))


def claim_href(claim_id: str) -> str:
    return f"/-/claim/{claim_id}"


