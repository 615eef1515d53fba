"""How archived text is shown on the site: a passage in its context, search snippets, page markers."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from ingest.store.db import fold
from ingest.text.extraction import PAGE_SEPARATOR
from ingest.text.stems import search_stem

CONTEXT = 200
SNIPPET = 90


def page_marked(piece: str, page: int) -> Markup:
    """`piece` escaped, each page separator (a form feed) shown as "— page N —", N counted from
    `page`, the page the piece starts on: a form feed is drawn as a box otherwise."""
    out, n = [], page
    for k, part in enumerate(piece.split(PAGE_SEPARATOR)):
        if k:
            n += 1
            out.append(Markup('<span class="page-break">— page {} —</span>').format(n))
        out.append(escape(part))
    return Markup("").join(out)


def context(text: str, start: int, end: int, width: int = CONTEXT) -> dict[str, Markup]:
    """The passage [start, end) with up to `width` characters either side, escaped, page
    separators shown as markers."""
    lo, hi = max(0, start - width), min(len(text), end + width)
    first = text.count(PAGE_SEPARATOR, 0, lo) + 1
    at_mark = first + text.count(PAGE_SEPARATOR, lo, start)
    at_after = at_mark + text.count(PAGE_SEPARATOR, start, end)
    return {
        "before": page_marked(("…" if lo > 0 else "") + text[lo:start], first),
        "mark": page_marked(text[start:end], at_mark),
        "after": page_marked(text[end:hi] + ("…" if hi < len(text) else ""), at_after),
    }


WORD = re.compile(r"\w+", re.UNICODE)


def search_terms(q: str | None) -> list[str]:
    """The words of a query, folded (ё = е) and lower-cased; operators and punctuation are dropped."""
    return [w.lower() for w in WORD.findall(fold(q or "") or "")][:16]


PREFIX_FROM = 6  # a query word this long or longer also finds the words that begin with it


def _phrase(word: str, prefix: bool = True) -> str:
    return '"' + word.replace('"', '""') + ('"*' if prefix else '"')


def fts_query(terms: list[str]) -> str:
    """Every word as a quoted term, or its Snowball stem as one, since the index keeps each word's
    stem: a word finds its inflected forms (Поризковой → Поризкова, старость → старости), and a
    word of PREFIX_FROM letters or more the words that begin with it too (Азарян → Азаряна).

    The stem is matched whole, not as a prefix: "wit"* (the stem of witness) would find with,
    within and witch, and a short prefix makes the index merge the lists of every word it begins
    (at ten million claims that was most of the search page's time); a short word is matched
    whole for the same reason ("суд" finds суда and судом through the stem, not судьба)."""
    parts = []
    for t in terms:
        s = search_stem(t)
        word = _phrase(t, prefix=len(t) >= PREFIX_FROM)
        parts.append(f"({word} OR {_phrase(s, prefix=False)})" if s != t else word)
    return " AND ".join(parts)


def highlight_stems(terms: list[str]) -> list[str]:
    """What a highlighted word may begin with: each term and its stem."""
    return sorted({x for t in terms for x in (t, search_stem(t))}, key=len, reverse=True)


def snippet(text: str, terms: list[str], width: int = SNIPPET) -> list[tuple[Markup, bool]]:
    """Pieces of text around the first match, each (escaped piece, highlighted), page separators
    shown as markers."""
    pieces = _snippet(text, terms, width)
    if not pieces:
        return []
    lo = pieces[0][2]
    page = text.count(PAGE_SEPARATOR, 0, lo) + 1
    out = []
    for piece, hit, _ in pieces:
        out.append((page_marked(piece, page), hit))
        page += piece.count(PAGE_SEPARATOR)
    return out


def _snippet(text: str, terms: list[str], width: int) -> list[tuple[str, bool, int]]:
    if not text:
        return []
    folded = fold(text) or ""
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in highlight_stems(terms)) + r")\w*",
                         re.IGNORECASE) if terms else None
    first = pattern.search(folded) if pattern else None
    at = first.start() if first else 0
    lo, hi = max(0, at - width), min(len(text), at + width * 2)
    pieces: list[tuple[str, bool, int]] = [("…", False, lo)] if lo > 0 else []
    pos = lo
    for m in (pattern.finditer(folded, lo, hi) if pattern else []):
        if m.end() > hi:
            break
        pieces.append((text[pos:m.start()], False, pos))
        pieces.append((text[m.start():m.end()], True, m.start()))
        pos = m.end()
    pieces.append((text[pos:hi], False, pos))
    if hi < len(text):
        pieces.append(("…", False, hi))
    return [p for p in pieces if p[0]]
