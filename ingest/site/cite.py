"""A source's extracted text as a Khronika page, and the citation offered for a passage selected
in it (anchored again, exactly as `python -m ingest quote` offers one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.claims.finder import Text, citation_for
from ingest.site.web import LATEST_EXTRACTION, NotFound, one

MAX_SELECTION = 5000
SCRIPT = Path(__file__).with_name("cite.js")


async def latest_text(datasette: Any, case: str, slug: str) -> tuple[dict[str, Any], Text]:
    source = await one(datasette, "SELECT * FROM sources WHERE id = ?", [f"{case}/{slug}"])
    if source is None:
        raise NotFound(f"no source {case}/{slug}")
    capture = await one(datasette, "SELECT * FROM captures WHERE source_id = ? ORDER BY version DESC LIMIT 1",
                        [source["id"]])
    if capture is None:
        raise NotFound(f"{source['id']} has no capture yet")
    extraction = await one(datasette, LATEST_EXTRACTION, [capture["blake3"]])
    if extraction is None:
        raise NotFound(f"capture version {capture['version']} of {source['id']} has no extracted text")
    return source, Text(source["id"], capture, extraction)


async def text_page(datasette: Any, case: str, slug: str) -> dict[str, Any]:
    source, t = await latest_text(datasette, case, slug)
    return {"source": source, "capture": t.capture, "extraction": t.extraction}


def dom_offsets(text: str) -> list[int]:
    """For each character of `text` as a browser's DOM holds it (CR LF and CR read as LF), its
    offset in `text`, with one more entry for the end."""
    out, i = [], 0
    while i < len(text):
        out.append(i)
        i += 2 if text.startswith("\r\n", i) else 1
    out.append(len(text))
    return out


async def cite(datasette: Any, case: str, slug: str, start: str | None, end: str | None,
               selected: str | None) -> dict[str, Any]:
    source, t = await latest_text(datasette, case, slug)
    if not (start or "").isdigit() or not (end or "").isdigit():
        return {"block": None, "note": "start and end must be character offsets"}
    where = dom_offsets(t.text)
    a, b = int(start or 0), int(end or 0)
    if not 0 <= a < b < len(where) or b - a > MAX_SELECTION:
        return {"block": None, "note": f"select between 1 and {MAX_SELECTION} characters of the text"}
    a, b = where[a], where[b]
    shown = t.text[a:b].replace("\r\n", "\n").replace("\r", "\n")
    if selected is not None and " ".join(selected.split()) != " ".join(shown.split()):
        return {"block": None, "note": "the selection could not be placed in the archived text; "
                                       "use python -m ingest quote with its words"}
    lines, problem, (qa, qb) = citation_for(t, source["slug"], a, b)
    if not lines:
        return {"block": None, "note": problem}
    return {"block": "\n".join(lines), "start": qa, "end": qb,
            "note": f"characters [{qa}, {qb}) of extraction {t.extraction['id']}; anchored again: paste it under "
                    "a claim's citations: and choose its stance"}
