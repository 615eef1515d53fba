"""Finding words in a source's archived text while writing a case file, and the citation that anchors them.

Matching is the anchoring's own (`anchor.anchor`, its normalisation and approximate search), so a
passage offered here is one `run` will find; every offered citation block is anchored again
before it is shown, and one that would not anchor says so instead.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import sqlite_utils

from ingest.claims.anchor import Anchor, anchor, needed_rules, normalize
from ingest.claims.blocks import runs_for
from ingest.claims.status import latest_extraction
from ingest.errors import KhronikaError

SHOWN = 5  # passages of a repeated quote shown in full
NEAR = 3  # near misses shown (one per page at most)
CONTEXT = 60  # characters of context shown either side
PREFIXES = (24, 48, 96, 192, 384)  # prefix lengths tried, shortest first, to pick one occurrence


class NoText(KhronikaError):
    """The source has no archived text to search, with the reason."""


@dataclass(frozen=True)
class Text:
    """The latest capture of a source and the text of its latest extraction."""

    source_id: str
    capture: dict[str, Any]
    extraction: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.extraction["text"])

    @property
    def pages(self) -> list[dict[str, Any]] | None:
        return json.loads(self.extraction["pages"]) if self.extraction["pages"] else None

    @property
    def blocks(self) -> list[list[Any]]:
        return runs_for(self.extraction)[0]


@dataclass(frozen=True)
class Passage:
    kind: str  # exact | normalized | near
    start: int
    end: int
    page: int | None
    before: str
    exact: str
    after: str
    note: str  # how it matched, or what differs
    block: list[str] = field(default_factory=list)  # the YAML citation lines, empty when none anchors
    problem: str = ""  # why no block is offered


@dataclass(frozen=True)
class Finding:
    words: str
    summary: str
    passages: list[Passage]
    hidden: int = 0  # occurrences not shown

    @property
    def found(self) -> bool:
        # Found only when a citation of the passage anchors: that is what `run` will check.
        return any(p.kind in ("exact", "normalized") and p.block for p in self.passages)


def latest_text(archive_root: Path, source_id: str) -> Text:
    """Read (never write) the archive: the source's latest capture and its extraction's text."""
    db_file = Path(archive_root) / "archive.db"
    if not db_file.is_file():
        raise NoText(f"{archive_root} is not a Khronika archive (no archive.db)")
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        db = sqlite_utils.Database(conn)
        src = list(db.query("SELECT wanted FROM sources WHERE id = ?", [source_id]))
        if not src:
            raise NoText(f"{source_id} is not in the archive yet; capture it with `python -m ingest run CASE_FILE`")
        caps = list(db.query("SELECT * FROM captures WHERE source_id = ? ORDER BY version DESC LIMIT 1", [source_id]))
        if not caps:
            why = "it is wanted (address not yet known)" if src[0]["wanted"] else "no capture yet"
            raise NoText(f"{source_id} has no capture: {why}")
        extraction = latest_extraction(db, caps[0]["blake3"])
        if extraction is None or extraction["text"] is None:
            why = extraction["error"] if extraction else "not extracted"
            raise NoText(f"capture {caps[0]['blake3'][:12]} of {source_id} has no text ({why}): unverifiable")
        return Text(source_id, caps[0], extraction)
    finally:
        conn.close()


def yaml_string(s: str) -> str:
    """A YAML double-quoted scalar: JSON's escapes, with the line and paragraph separators escaped too."""
    return json.dumps(s, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _one_line(s: str) -> str:
    return re.sub(r"\s+", " ", s)


def _quote_of(s: str) -> str:
    return " ".join(s.split())


def _passage(t: Text, kind: str, start: int, end: int, page: int | None, note: str) -> dict[str, Any]:
    text = t.text
    return dict(kind=kind, start=start, end=end, page=page, note=note,
                before="…" + _one_line(text[start - CONTEXT:start]) if start > CONTEXT else _one_line(text[:start]).lstrip(),
                exact=text[start:end],
                after=_one_line(text[end:end + CONTEXT]) + "…" if end + CONTEXT < len(text) else _one_line(text[end:]).rstrip())


def _block(t: Text, source: str, start: int, end: int, page: int | None, repeated: bool,
           stance: str) -> tuple[list[str], str]:
    """The citation lines for the passage at [start, end), anchored again to be sure; or why none is offered."""
    quote = _quote_of(t.text[start:end])
    tries: list[str | None] = [None]
    if repeated:
        tries = [_prefix(t.text, start, n) for n in PREFIXES if n < start] + ([_quote_of(t.text[:start])] if start else [])
    for prefix in tries:
        got = anchor(t.text, quote, prefix=prefix, pages=t.pages, page=page, blocks=t.blocks)
        if got.found and got.start == start:
            lines = [f"- source: {source}", f"  quote: {yaml_string(quote)}"]
            if prefix:
                lines.append(f"  prefix: {yaml_string(prefix)}")
            if page is not None:
                lines.append(f"  page: {page}")
            lines.append(f"  stance: {stance}" + "   # choose: supports | contradicts | mentions")
            return lines, ""
        last = got
    if repeated:
        return [], "no prefix tells this occurrence apart from the others: quote more words"
    return [], f"a citation of these words would not anchor: {last.reason}"


def _prefix(text: str, start: int, n: int) -> str:
    """The text before `start`, about `n` characters, from a word's beginning, on one line."""
    piece = text[max(0, start - n):start]
    cut = next((i for i, c in enumerate(piece) if c.isspace()), None)
    if start > n and cut is not None and piece[cut:].strip():  # drop the cut-off first word
        piece = piece[cut:]
    return _quote_of(piece)


def differences(words: str, passage: str) -> str:
    """What differs between the words searched for and the passage, word by word after normalising."""
    a, b = words.split(), passage.split()
    na, nb = [normalize(w)[0] for w in a], [normalize(w)[0] for w in b]
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, na, nb, autojunk=False).get_opcodes():
        if op == "replace":
            out.append(f'"{" ".join(a[i1:i2])}" where the source has "{" ".join(b[j1:j2])}"')
        elif op == "delete":
            out.append(f'"{" ".join(a[i1:i2])}" is not in the source')
        elif op == "insert":
            out.append(f'the source adds "{" ".join(b[j1:j2])}"')
    return "; ".join(out) or "only in what normalising ignores"


def find(t: Text, source: str, words: str, stance: str = "mentions") -> Finding:
    """The passages of `t` that hold `words` (every occurrence), else the nearest passages and what differs."""
    if not words.strip():
        return Finding(words, "nothing to search for: the words are empty", [])
    first = anchor(t.text, words, pages=t.pages, blocks=t.blocks)
    if first.found or first.match == "spans_blocks" and first.start is not None:
        return Finding(words, _found_summary(first), [_shown(t, source, first, words, False, stance)])
    if first.match == "ambiguous":
        shown = []
        for start in first.candidates[:SHOWN]:
            pinned = anchor(t.text, words, prefix=t.text[max(0, start - PREFIXES[-1]):start] or None,
                            pages=t.pages, blocks=t.blocks)
            if pinned.start != start:  # the whole text before it repeats too: show where it starts
                pinned = Anchor("normalized", start, start + len(words), t.text[start:start + len(words)],
                                None, None, (), None, (), None, "")
            shown.append(_shown(t, source, pinned, words, True, stance))
        n = len(first.candidates)
        return Finding(words, f"found {n} times: every occurrence needs a prefix", shown, max(0, n - SHOWN))
    why = first.reason if first.reason.startswith("not found") else f"not found ({first.reason})"
    return Finding(words, why, _near(t, source, words, first, stance))


def _found_summary(a: Anchor) -> str:
    return "found exactly once" if a.match == "exact" else \
        "found once after normalising" if a.found else f"found once, but {a.reason}"


def _shown(t: Text, source: str, a: Anchor, words: str, repeated: bool, stance: str) -> Passage:
    assert a.start is not None and a.end is not None
    exact = t.text[a.start:a.end]
    if exact == words:
        note, kind = "exact", "exact"
    else:
        rules = needed_rules(exact, words, list(a.rules) or ["whitespace"])
        note, kind = f"after normalising ({', '.join(rules) or 'whitespace'})", "normalized"
    if a.match == "spans_blocks":
        note = f"{note}; {a.reason}"
    page = a.page if a.page is not None else _page(t, a.start)
    lines, problem = _block(t, source, a.start, a.end, page, repeated, stance)
    return Passage(**{**_passage(t, kind, a.start, a.end, page, note), "block": lines, "problem": problem})


def _page(t: Text, pos: int) -> int | None:
    for p in t.pages or ():
        if p["start"] <= pos < p["end"]:
            return int(p["number"])
    return None


def _near(t: Text, source: str, words: str, first: Anchor, stance: str) -> list[Passage]:
    """The nearest passage of each page (or of the whole text), best first."""
    hits: list[Anchor] = [first] if first.match == "fuzzy" else []
    if t.pages and len(t.pages) > 1:
        hits = [a for p in t.pages if p.get("has_text", True)
                for a in [anchor(t.text, words, pages=t.pages, page=int(p["number"]))] if a.match == "fuzzy"]
    hits.sort(key=lambda a: (-(a.score or 0), a.start or 0))
    out = []
    for a in hits[:NEAR]:
        assert a.start is not None and a.end is not None
        start, end = _whole_words(t.text, a.start, a.end)
        page = a.page if a.page is not None else _page(t, start)
        note = f"near miss (score {a.score:.2f}): {differences(words, t.text[start:end])}"
        repeated = anchor(t.text, _quote_of(t.text[start:end]), pages=t.pages, blocks=t.blocks).match == "ambiguous"
        lines, problem = _block(t, source, start, end, page, repeated, stance)
        out.append(Passage(**{**_passage(t, "near", start, end, page, note), "block": lines, "problem": problem}))
    return out


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """An approximate passage widened to whole words: a quote cut inside a word is no one's quote."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while start < end and text[start].isspace():
        start += 1
    return start, end


def report(t: Text, finding: Finding, lines_of: Sequence[str] = ()) -> list[str]:
    """The finding as lines for the terminal."""
    cap = t.capture
    out = [*lines_of,
           f"{t.source_id}: capture v{cap['version']} of {cap['captured_at']} (BLAKE3 {cap['blake3'][:12]}), "
           f"extraction {t.extraction['id']} ({t.extraction['extractor']} {t.extraction['extractor_version']})"]
    if cap.get("incomplete"):
        out.append(f"warning: this capture is marked incomplete: {cap['incomplete']}")
    out.append(f"{_one_line(finding.words)!r}: {finding.summary}")
    if finding.passages and not finding.found:
        out.append("nearest passages (they do not count as found; quote the source's own words):")
    for i, p in enumerate(finding.passages, 1):
        where = f"characters [{p.start}, {p.end})" + (f", page {p.page}" if p.page is not None else "")
        out += ["", f"{i}. {p.note}, {where}", f"   {p.before}[[{_one_line(p.exact)}]]{p.after}"]
        out += [f"   {line}" for line in p.block] or [f"   no citation offered: {p.problem}"]
    if finding.hidden:
        out += ["", f"{finding.hidden} more occurrence(s) not shown"]
    return out


def citation_for(t: Text, source: str, start: int, end: int,
                 stance: str = "mentions") -> tuple[list[str], str, tuple[int, int]]:
    """The citation lines for the words at [start, end) of `t` (widened to whole words), anchored
    again, with a prefix when they occur more than once; or why none is offered; and the span."""
    start, end = max(0, start), min(len(t.text), end)
    if start < end:
        start, end = _whole_words(t.text, start, end)
    if start >= end:
        return [], "nothing but white space is selected", (start, end)
    quote = _quote_of(t.text[start:end])
    repeated = anchor(t.text, quote, pages=t.pages, blocks=t.blocks).match == "ambiguous"
    lines, problem = _block(t, source, start, end, _page(t, start), repeated, stance)
    return lines, problem, (start, end)
