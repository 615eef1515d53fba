"""Whether a quoted passage stays inside one block of its source (a paragraph, heading, cell, list item, page part).

Words the source put in different blocks (the end of one paragraph, a heading, the start of a
columnist's paragraph) must never become one quoted statement. A match that crosses a block
boundary is anchored as ``spans_blocks`` and does not count as found, unless the citation
accepts exactly that many blocks with ``spans: N``; the blocks are named in order
("paragraph 3 → heading 2 → paragraph 4"). The same rule is applied again by the quote gates
of ``verify`` and ``verify-bag``, from the extraction's recorded blocks and the citation's offsets.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ingest.text.blocks import LINES_METHOD, line_runs, text_blocks

ARROW = " → "


def runs_for(extraction: Mapping[str, Any]) -> tuple[list[list], str]:
    """An extraction row's block runs and how they were found.

    Extractions recorded before blocks were kept have none: a plain text is split at its
    blank lines again (the same rule), any other text counts every line as a block."""
    raw = extraction["blocks"]
    if raw:
        record = json.loads(raw) if isinstance(raw, str) else raw
        return [list(r) for r in record["blocks"]], record["method"]
    text = extraction["text"]
    if text is None:
        return [], "none"
    if extraction["extractor"] == "text":
        record = text_blocks(text)
        return record["blocks"], record["method"]
    return line_runs(text), f"{LINES_METHOD} (no blocks recorded)"


def crossed(runs: Sequence[Sequence[Any]] | None, start: int, end: int) -> list[str]:
    """The blocks [start, end) touches, in order, when it touches more than one; else []."""
    if not runs or end <= start:
        return []
    ends = [r[1] for r in runs]
    i = bisect.bisect_right(ends, start)
    names = []
    while i < len(runs) and runs[i][0] < end:
        names.append(str(runs[i][2]))
        i += 1
    return names if len(names) > 1 else []


def split(spans: list[tuple[int, int]], runs: Sequence[Sequence[Any]] | None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(matches inside one block, matches crossing a boundary)."""
    inside, across = [], []
    for sp in spans:
        (across if crossed(runs, *sp) else inside).append(sp)
    return inside, across


def judge(found: Any, context: str, runs: Sequence[Sequence[Any]] | None, accept: int | None) -> Any:
    """An Anchor whose only match crosses blocks: spans_blocks, or found if `accept` is their number.

    `context` says how the match was picked: "" (no prefix/suffix), "used", "ignored"."""
    if found.match not in ("exact", "normalized"):
        return found  # several spliced matches: ambiguous already, never found
    names = crossed(runs, found.start, found.end)
    n = len(names)
    if accept == n:
        return dataclasses.replace(found, crossed=tuple(names), reason=(
            f"{found.reason}; it joins {n} blocks ({ARROW.join(names)}), as the citation accepts (spans: {n})"))
    advice = f"the citation accepts spans: {accept}" if accept else \
        f"if the quote deliberately joins them, give spans: {n}"
    at = f"at {found.start}" + (f" on page {found.page}" if found.page is not None else "")
    which = {"used": "the match the given prefix/suffix picks",
             "ignored": "the only match (the given prefix/suffix fits none)"}.get(context, "the only match")
    return dataclasses.replace(found, match="spans_blocks", crossed=tuple(names), reason=(
        f"{which} ({found.match}, {at}) joins words from {n} blocks: {ARROW.join(names)}; {advice}"))


def unneeded(found: Any, accept: int | None) -> Any:
    """A match inside one block: a `spans:` the citation gives is noted as not needed."""
    if not accept or not found.found:
        return found
    return dataclasses.replace(found, reason=f"{found.reason}; the citation gives spans: {accept}, "
                               "but the passage lies in one block")


def describe(names: Sequence[str], accepted: bool) -> str:
    """How a passage across blocks is shown wherever its quote is shown."""
    how = f"accepted by the case file (spans: {len(names)})" if accepted else "not accepted: does not count as found"
    return f"joins {len(names)} blocks, {how}: {ARROW.join(names)}"


def gate(citation: Mapping[str, Any], runs: Sequence[Sequence[Any]]) -> tuple[bool, str]:
    """The quote gate's block rule for an anchored citation row: (passes, what to say).

    The passage at the row's offsets is measured against the extraction's blocks, whatever the
    row says about itself: a row edited to call a spliced passage found does not pass."""
    names = crossed(runs, citation["start"], citation["end"])
    recorded = json.loads(citation["crossed"]) if citation.get("crossed") else []
    span = f"[{citation['start']}, {citation['end']})"
    if not names:
        if recorded:
            return False, f"recorded as joining {ARROW.join(recorded)}, but the passage at {span} lies in one block"
        return True, ""
    accepts = citation.get("spans")
    if accepts != len(names):
        what = f"spans: {accepts}" if accepts else "no span"
        return False, (f"the passage at {span} joins words from {len(names)} blocks ({ARROW.join(names)}); "
                       f"the citation accepts {what}")
    if recorded != names:
        return False, f"the passage at {span} joins {ARROW.join(names)}, but the citation records {ARROW.join(recorded) or 'none'}"
    return True, describe(names, True)


def pieces(text: str, start: int, end: int, runs: Sequence[Sequence[Any]]) -> list[dict[str, str]]:
    """The passage [start, end) cut at its block boundaries: {"text", "block"} for each block's
    part, {"text", "boundary"} for what lies between two blocks (not escaped here)."""
    out: list[dict[str, str]] = []
    pos, last = start, None
    for s, e, name in runs:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        if last is not None:
            out.append({"text": text[pos:s], "boundary": f"{last} ends · {name} begins"})
        elif s > pos:
            out.append({"text": text[pos:s], "block": ""})
        out.append({"text": text[s:e], "block": str(name)})
        pos, last = e, name
    if pos < end:
        out.append({"text": text[pos:end], "block": ""})
    return out


def block_gate(c: Mapping[str, Any], text: str) -> tuple[bool, str]:
    """`gate` for a citation row joined to its extraction (`eblocks`, `eextractor`): (passes,
    what to add to the check's detail, or the problem)."""
    runs, method = runs_for({"blocks": c["eblocks"], "text": text, "extractor": c["eextractor"]})
    ok, said = gate(c, runs)
    if not ok and c["eblocks"] is None:
        said += f" (extraction {c['extraction_id']} has no recorded blocks: {method})"
    return ok, f", {said}" if ok and said else said


def blocks_moved(row: Mapping[str, Any], blocks: Mapping[str, Any] | None) -> str | None:
    """Why an extraction row's recorded blocks differ from a re-extraction's by the same method, or None."""
    if not row["blocks"] or blocks is None:
        return None
    recorded = json.loads(row["blocks"])
    if recorded.get("method") != blocks.get("method") or recorded == json.loads(json.dumps(blocks)):
        return None
    return f"same text, but the recorded block boundaries differ from a re-extraction's ({blocks['method']})"
