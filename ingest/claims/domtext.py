"""A page's text as its DOM holds it, node by node, and where a quote lies in it.

Both visibility passes use this: the static pass on lxml's tree, the browser pass on the text
nodes Chromium reports. A quote is located with the anchor's normalisation, so it is found in
the DOM where it was found in the extracted text; each hit is a list of text-node pieces.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ingest.claims.anchor import normalize

# Elements at whose edges words part (as they do in the extracted text).
BLOCK_TAGS = frozenset(
    "address article aside blockquote body br caption dd details dialog div dl dt fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 head header hr html legend li main nav ol option p pre "
    "section summary table tbody td tfoot th thead title tr ul".split())
# Text that is never rendered as text at all.
SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})
MAX_HITS = 50  # a quote found more often than this is judged on its first hits
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Piece:
    node: int  # index of the text node
    start: int  # code points within that node's text
    end: int


def lxml_nodes(root: Any) -> tuple[list[str | None], list[tuple[Any, str]]]:
    """Tokens (a node's text, or None at a block edge) and, per text node, (owner element, which)."""
    tokens: list[str | None] = []
    owners: list[tuple[Any, str]] = []

    def walk(el: Any) -> None:
        tag = el.tag if isinstance(el.tag, str) else None
        if tag is None or tag in SKIPPED_TAGS:
            return  # comments, processing instructions, scripts: never shown as text
        block = tag in BLOCK_TAGS
        if block:
            tokens.append(None)
        if el.text:
            tokens.append(el.text)
            owners.append((el, "text"))
        for child in el:
            walk(child)
            if child.tail:
                tokens.append(child.tail)
                owners.append((el, "tail"))
        if block:
            tokens.append(None)

    walk(root)
    return tokens, owners


def _joined(tokens: list[str | None]) -> tuple[str, list[tuple[int, int]]]:
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for t in tokens:
        if t is None:
            parts.append(" ")
            pos += 1
            continue
        spans.append((pos, pos + len(t)))
        parts.append(t)
        pos += len(t)
    return "".join(parts), spans


def _pieces(spans: list[tuple[int, int]], text: str, s: int, e: int) -> list[Piece]:
    out = []
    for i, (a, b) in enumerate(spans):
        if b <= s or a >= e:
            continue
        lo, hi = max(a, s) - a, min(b, e) - a
        if text[a + lo:a + hi].strip():
            out.append(Piece(i, lo, hi))
    return out


def _finds(haystack: str, needle: str) -> Iterator[int]:
    pos = haystack.find(needle)
    while pos != -1:
        yield pos
        pos = haystack.find(needle, pos + 1)


class Prepared:
    """A page's text nodes joined once, with two searchable forms made when first needed: white
    space collapsed (cheap, tried first), and the anchor's full normalisation."""

    def __init__(self, tokens: list[str | None]) -> None:
        self.text, self.spans = _joined(tokens)

    @cached_property
    def collapsed(self) -> tuple[str, list[int], list[int]]:
        words = [(m.start(), m.group()) for m in _WORD.finditer(self.text)]
        offsets, at = [], 0
        for _, w in words:
            offsets.append(at)
            at += len(w) + 1
        return " ".join(w for _, w in words), offsets, [st for st, _ in words]

    @cached_property
    def normalized(self) -> tuple[str, list[int]]:
        ntext, where, _ = normalize(self.text)
        return ntext, where

    def original(self, i: int) -> int:
        _, offsets, starts = self.collapsed
        k = bisect_right(offsets, i) - 1
        return starts[k] + (i - offsets[k])


def prepare(tokens: list[str | None]) -> Prepared:
    return Prepared(tokens)


def locate(page: Prepared | list[str | None], quote: str) -> list[list[Piece]]:
    """Every place the quote occurs in the page's text nodes (at most MAX_HITS).

    White space collapsed first; the full normalisation only when that finds nothing. (The
    cheap form can only miss an occurrence, and a missed visible one errs towards "hidden".)"""
    prepared = page if isinstance(page, Prepared) else prepare(page)
    text, spans = prepared.text, prepared.spans
    plain = " ".join(quote.split())
    if plain:
        ctext = prepared.collapsed[0]
        cheap = [_pieces(spans, text, prepared.original(pos), prepared.original(pos + len(plain) - 1) + 1)
                 for pos in _finds(ctext, plain)][:MAX_HITS]
        if cheap:
            return cheap
    ntext, where = prepared.normalized
    nquote = normalize(quote)[0]
    if not nquote:
        return []
    hits: list[list[Piece]] = []
    for pos in _finds(ntext, nquote):
        hits.append(_pieces(spans, text, where[pos], where[pos + len(nquote) - 1] + 1))
        if len(hits) >= MAX_HITS:
            return hits
    if hits:
        return hits
    # The extractor may join or part words differently at element edges: try without spaces.
    squeezed = [i for i, c in enumerate(ntext) if c != " "]
    stext, squote = "".join(ntext[i] for i in squeezed), nquote.replace(" ", "")
    for pos in _finds(stext, squote):
        a, b = where[squeezed[pos]], where[squeezed[pos + len(squote) - 1]] + 1
        hits.append(_pieces(spans, text, a, b))
        if len(hits) >= MAX_HITS:
            break
    return hits
