"""Finding a citation quote in an extraction's text: exact, then normalised, then approximate.

Offsets are always code points of the stored text, half-open [start, end), so
`text[start:end]` is what the archive can show next to the claim. Approximate
(fuzzy) matches are reported to help a human, but never count as found.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

from ingest.claims import hyphenation
from ingest.claims.blocks import judge, split, unneeded

CONTEXT = 32  # chars of prefix/suffix kept in a TextQuoteSelector
MAX_CANDIDATES = 1000  # an ambiguous report lists at most this many starts
FUZZY_MAX_QUOTE = 2000  # longer quotes are not searched approximately
FUZZY_FULL_SCAN = 200_000  # normalised texts up to this size are scanned whole
FUZZY_BUDGET = 400_000  # beyond that, at most this many chars are scanned in windows
SEED_CAP = 500  # a seed piece found more often than this says nothing about location

# char -> (replacement, rule). Guillemets count as quotes: Russian sources use
# «» where a user typing on an ordinary keyboard writes "".
_CHARMAP: dict[str, tuple[str, str]] = {
    **{c: ("", "zero_width") for c in "\u200b\u200c\u200d\u2060\ufeff"},
    "\u00ad": ("", "soft_hyphen"),
    **{c: ("'", "quotes") for c in "\u2018\u2019\u201a\u201b\u2032\u2039\u203a"},
    **{c: ('"', "quotes") for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"},
    **{c: ("-", "dashes") for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"},
    "\u0451": ("\u0435", "yo"),
    "\u0401": ("\u0415", "yo"),
}
_FOLD_CACHE: dict[str, tuple[str, frozenset[str]]] = {}


@dataclass(frozen=True)
class Anchor:
    match: str  # exact|normalized|spans_blocks|fuzzy|not_found|ambiguous|unverifiable
    start: int | None
    end: int | None
    exact: str | None  # text[start:end]
    prefix: str | None  # up to CONTEXT chars before start in the stored text
    suffix: str | None  # up to CONTEXT chars after end
    rules: tuple[str, ...]  # normalisation rules that fired, sorted
    score: float | None  # 1.0 for exact/normalized, similarity for fuzzy
    candidates: tuple[int, ...]  # ambiguous: candidate starts; else ()
    page: int | None
    reason: str
    crossed: tuple[str, ...] = ()  # the blocks a passage joins, in order, when it joins several

    @property
    def found(self) -> bool:
        return self.match in ("exact", "normalized")

    def selectors(self) -> dict:
        if not self.found:
            return {}
        return {
            "TextQuoteSelector": {"type": "TextQuoteSelector", "exact": self.exact,
                                  "prefix": self.prefix, "suffix": self.suffix},
            "TextPositionSelector": {"type": "TextPositionSelector",
                                     "start": self.start, "end": self.end},
        }


def _is_mark(c: str) -> bool:
    return unicodedata.category(c)[0] == "M"


def _cluster_end(s: str, i: int) -> int:
    # A base char and the combining marks after it normalise as one unit, so a
    # match may only start or end on the edges of such a unit.
    j = i + 1
    while j < len(s) and _is_mark(s[j]):
        j += 1
    return j


def _map_chars(s: str, rules: set[str]) -> str:
    out = []
    for c in s:
        rep, rule = (" ", "whitespace") if c.isspace() and c != " " else _CHARMAP.get(c, (c, ""))
        if rule:
            rules.add(rule)
        out.append(rep)
    return "".join(out)


def _fold(cluster: str) -> tuple[str, frozenset[str]]:
    hit = _FOLD_CACHE.get(cluster)
    if hit is not None:
        return hit
    rules: set[str] = set()
    mapped = _map_chars(cluster, rules)
    composed = unicodedata.normalize("NFKC", mapped)
    if composed != mapped:
        rules.add("nfkc")
    folded = composed.casefold()
    if folded != composed:
        rules.add("case")
    # NFKC and casefold can produce chars the first pass maps ("\ufe58" -> "—", "Ё" -> "ё").
    result = (_map_chars(folded, rules), frozenset(rules))
    if len(_FOLD_CACHE) < 100_000:  # bounded: clusters are few, but texts are untrusted
        _FOLD_CACHE[cluster] = result
    return result


def normalize(s: str) -> tuple[str, list[int], set[str]]:
    """Return (normalised s, original index of each normalised char + [len(s)], rules fired).

    Whitespace runs become one space and the ends are stripped, so a quote's
    surrounding spaces never matter.
    """
    out: list[str] = []
    where: list[int] = []
    rules: set[str] = set()
    i, n = 0, len(s)
    while i < n:
        j = _cluster_end(s, i)
        piece, fired = _fold(s[i:j])
        if fired:
            rules |= fired
        for c in piece:
            if c == " " and (not out or out[-1] == " "):
                rules.add("whitespace")
                continue
            out.append(c)
            where.append(i)
        i = j
    if out and out[-1] == " ":
        out.pop()
        where.pop()
        rules.add("whitespace")
    where.append(n)
    return "".join(out), where, rules


def quotes_equivalent(a: str, b: str) -> bool:
    """Whether the stored passage `a` and the quote `b` differ only in what normalisation ignores
    (line-end hyphens included)."""
    na, where, _ = normalize(a)
    nb = normalize(b)[0]
    if na == nb:
        return True
    marked = hyphenation.mark_line_ends(a, na, where)
    return marked is not None and hyphenation.pattern(nb).fullmatch(marked[0]) is not None


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


def _page_of(pages: Sequence[Any] | None, pos: int) -> int | None:
    for p in pages or ():
        if _field(p, "start") <= pos < _field(p, "end"):
            return _field(p, "number")
    return None


def _norm_around(text: str, pos: int, need: int, before: bool) -> str:
    # Normalise a window next to pos that is wide enough after normalisation;
    # the margin absorbs a mark cut off at the far edge of the window.
    width = need + 16
    while True:
        lo, hi = (max(0, pos - width), pos) if before else (pos, min(len(text), pos + width))
        norm = normalize(text[lo:hi])[0]
        if len(norm) >= need + 8 or (lo == 0 if before else hi == len(text)):
            return norm
        width *= 2


def _context_ok(text: str, start: int, end: int, ctx: tuple[str, str, str, str]) -> bool:
    prefix, suffix, nprefix, nsuffix = ctx
    if nprefix and not text.endswith(prefix, 0, start) \
            and not _norm_around(text, start, len(nprefix), True).endswith(nprefix):
        return False
    if nsuffix and not text.startswith(suffix, end) \
            and not _norm_around(text, end, len(nsuffix), False).startswith(nsuffix):
        return False
    return True


def _miss(kind: str, reason: str, **extra: Any) -> Anchor:
    base = dict(start=None, end=None, exact=None, prefix=None, suffix=None, rules=(),
                score=None, candidates=(), page=None)
    base.update(extra)
    return Anchor(match=kind, reason=reason, **base)


def _hit(text: str, kind: str, start: int, end: int, rules: set[str], score: float,
         pages: Sequence[Any] | None, say: str) -> Anchor:
    page = _page_of(pages, start)
    at = f"at {start}" + (f" on page {page}" if page is not None else "")
    return Anchor(kind, start, end, text[start:end], text[max(0, start - CONTEXT):start],
                  text[end:end + CONTEXT], tuple(sorted(rules)), score, (), page,
                  say.replace("{at}", at))


def _decide(text: str, kind: str, spans: list[tuple[int, int]], qrules: set[str],
            pages: Sequence[Any] | None, context: str) -> Anchor:
    # context: "" (none given), "used" (it narrowed the hits), "ignored" (it fitted none)
    ignored = "; the given prefix/suffix fits none, so it was ignored" \
        if context == "ignored" else ""
    if len(spans) > 1:
        starts = sorted({s for s, _ in spans})
        listed = "" if len(starts) <= MAX_CANDIDATES else f" (first {MAX_CANDIDATES} listed)"
        advice = " even with the given prefix/suffix; lengthen them" if context == "used" \
            else "; add prefix:"
        return _miss("ambiguous", f"quote occurs {len(starts)} times{listed}{ignored}{advice} "
                     "to pick one", candidates=tuple(starts[:MAX_CANDIDATES]))
    start, end = spans[0]
    if kind == "exact":
        return _hit(text, kind, start, end, set(), 1.0, pages, "found exactly {at}" + ignored)
    rules = normalize(text[start:end])[2] | qrules
    return _hit(text, kind, start, end, rules, 1.0, pages,
                f"found {{at}} after normalising ({', '.join(sorted(rules))}){ignored}")


def anchor(text: str | None, quote: str, *, prefix: str | None = None, suffix: str | None = None,
           pages: Sequence[Any] | None = None, page: int | None = None,
           blocks: Sequence[Sequence[Any]] | None = None, accept: int | None = None) -> Anchor:
    """Locate `quote` in `text` (within `page` when `pages` maps pages to offsets).

    exact/normalized: found once (after prefix/suffix picked among repeats);
    ambiguous: several occurrences fit, starts in `candidates`; fuzzy: only a
    near passage exists (never found); unverifiable: no text to check against.
    With `blocks` (runs [start, end, name]), a match must lie inside one block: one
    that joins blocks is spans_blocks (never found) unless `accept` is their number.
    """
    if text is None:
        return _miss("unverifiable", "the extraction has no text")
    lo, hi = 0, len(text)
    if page is not None and pages is not None:
        span = next((p for p in pages if _field(p, "number") == page), None)
        if span is None:
            return _miss("not_found", f"page {page} is not one of the {len(pages)} pages")
        lo, hi = _field(span, "start"), _field(span, "end")
        if not _field(span, "has_text") or lo >= hi:
            return _miss("unverifiable", f"page {page} has no text to check against", page=page)
    if not quote or quote.isspace():
        return _miss("not_found", "the quote is empty")
    nprefix = normalize(prefix)[0] if prefix else ""
    nsuffix = normalize(suffix)[0] if suffix else ""
    ctx = (prefix or "", suffix or "", nprefix, nsuffix)
    used = "used" if nprefix or nsuffix else ""
    spliced: list[tuple[Anchor, str]] = []  # matches that join blocks (and the context), best first

    def settle(kind: str, found: list[tuple[int, int]], rules: set[str], context: str) -> Anchor | None:
        inside, across = split(found, blocks)
        if across:
            spliced.append((_decide(text, kind, across, rules, pages, context), context))
        return unneeded(_decide(text, kind, inside, rules, pages, context), accept) if inside else None

    # 1. Exact: plain str.find, every (possibly overlapping) occurrence.
    exact: list[tuple[int, int]] = []
    pos = text.find(quote, lo, hi)
    while pos != -1:
        exact.append((pos, pos + len(quote)))
        pos = text.find(quote, pos + 1, hi)
    chosen = [sp for sp in exact if _context_ok(text, *sp, ctx)]
    if chosen and (hit := settle("exact", chosen, set(), used)):
        return hit

    # 2. Normalised: search the normalised page/text, map hits back to stored offsets.
    nquote, _, qrules = normalize(quote)
    if not nquote:
        return _miss("not_found", "nothing is left of the quote after normalisation")
    region = text[lo:hi]
    ntext, where, _ = normalize(region)
    spans: list[tuple[int, int]] = []
    pos = ntext.find(nquote)
    while pos != -1:
        stop = pos + len(nquote)
        # Only whole units: a hit inside one char's expansion ("ﬁ" -> "fi") is not the quote.
        if (pos == 0 or where[pos] != where[pos - 1]) and \
                (stop == len(ntext) or where[stop] != where[stop - 1]):
            spans.append((lo + where[pos], lo + _cluster_end(region, where[stop - 1])))
        pos = ntext.find(nquote, pos + 1)
    chosen = [sp for sp in spans if _context_ok(text, *sp, ctx)]
    if chosen and (hit := settle("normalized", chosen, qrules, used)):
        return hit
    if not exact and not spans:  # then across line-end hyphens ("vio-\nlation")
        marked = hyphenation.mark_line_ends(region, ntext, where)
        hy = [] if marked is None else [(lo + marked[1][a], lo + _cluster_end(region, marked[1][b - 1]))
                                        for a, b in hyphenation.find(marked[0], nquote)]
        if hy:
            spans, qrules = hy, qrules | {hyphenation.RULE}
            chosen = [sp for sp in hy if _context_ok(text, *sp, ctx)]
            if chosen and (hit := settle("normalized", chosen, qrules, used)):
                return hit
    if not spliced:  # nothing fits the given prefix/suffix: try without them
        for kind, found, rules in (("exact", exact, set()), ("normalized", spans, qrules)):
            if found and (hit := settle(kind, found, rules, "ignored")):
                return hit
    if spliced:
        return judge(*spliced[0], blocks, accept)

    # 3. Approximate: reported for a human to look at, never found.
    return _fuzzy(text, lo, region, ntext, where, nquote, qrules, nprefix, nsuffix, pages)


def _myers(t: str, pattern: str, anchored: bool) -> list[int]:
    """Edit distance of the pattern against t ending at each position (Myers' bit vectors).

    Unanchored, the pattern may start anywhere in t; anchored, it must start at t[0].
    """
    peq: dict[str, int] = {}  # for each char, the bit set of its positions in the pattern
    for i, c in enumerate(pattern):
        peq[c] = peq.get(c, 0) | (1 << i)
    m = len(pattern)
    full, top = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score, carry = full, 0, m, int(anchored)
    scores = []
    for c in t:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | carry) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
        scores.append(score)
    return scores


def _distance(a: str, b: str) -> int:
    """Levenshtein distance: the anchored scan's last column."""
    return _myers(b, a, True)[-1] if a and b else max(len(a), len(b))


def _windows(ntext: str, nquote: str, budget: int) -> list[tuple[int, int]]:
    # Too big to scan whole: cut the quote in pieces, find each piece exactly, and
    # scan windows around the diagonals that many pieces agree on.
    m, k = len(nquote), len(nquote) // 4
    size = max(4, m // (k + 1))
    votes: dict[int, int] = {}
    for off in range(0, m - size + 1, size):
        hits, pos = [], ntext.find(nquote[off:off + size])
        while pos != -1 and len(hits) <= SEED_CAP:
            hits.append(pos - off)
            pos = ntext.find(nquote[off:off + size], pos + 1)
        if len(hits) <= SEED_CAP:
            for d in hits:
                votes[d // (k + 1)] = votes.get(d // (k + 1), 0) + 1
    out: list[tuple[int, int]] = []
    for bucket in sorted(votes, key=lambda b: -votes[b]):
        # a bucket holds diagonals [bucket*(k+1), (bucket+1)*(k+1)); k indels shift either way
        lo = max(0, bucket * (k + 1) - k)
        window = (lo, min(len(ntext), bucket * (k + 1) + (k + 1) + m + k))
        budget -= window[1] - window[0]
        if budget < 0:
            break
        out.append(window)
    return out


def _fuzzy(text: str, lo: int, region: str, ntext: str, where: list[int], nquote: str,
           qrules: set[str], nprefix: str, nsuffix: str, pages: Sequence[Any] | None) -> Anchor:
    m, k = len(nquote), len(nquote) // 4
    if m > FUZZY_MAX_QUOTE:
        return _miss("not_found", f"not found; quote too long ({m} chars) to search approximately")
    if k == 0:
        return _miss("not_found", "not found, and too short to search approximately")
    windows = [(0, len(ntext))] if len(ntext) <= FUZZY_FULL_SCAN else \
        _windows(ntext, nquote, FUZZY_BUDGET)
    best, ends = k + 1, []
    for a, b in windows:
        for j, s in enumerate(_myers(ntext[a:b], nquote, False)):
            if s < best:
                best, ends = s, [a + j + 1]
            elif s == best and len(ends) < 16 and a + j + 1 not in ends:
                ends.append(a + j + 1)
    if not ends:
        return _miss("not_found", "not found, even approximately")
    # Walk back from each best end to its start, then let the context break ties.
    found = []
    for e in ends:
        back = _myers(ntext[max(0, e - m - best):e][::-1], nquote[::-1], True)
        length = min(range(len(back)), key=lambda i: (back[i], abs(i + 1 - m))) + 1
        s = e - length
        # normalised context never ends or starts with a space, so drop the one next to the hit
        want_before, want_after = nprefix[-CONTEXT:], nsuffix[:CONTEXT]
        before = ntext[max(0, s - CONTEXT - 1):s].rstrip(" ")[-len(want_before):]
        after = ntext[e:e + CONTEXT + 1].lstrip(" ")[:len(want_after)]
        near = (_distance(want_before, before) if want_before else 0) + \
            (_distance(want_after, after) if want_after else 0)
        found.append((near, s, e))
    _, s, e = min(found)
    start, end = lo + where[s], lo + _cluster_end(region, where[e - 1])
    # Snapping to whole chars can change the passage, so score what is reported.
    shown, _, rules = normalize(text[start:end])
    edits = _distance(nquote, shown)
    score = round(max(0.0, 1 - edits / m), 4)
    return _hit(text, "fuzzy", start, end, rules | qrules, score, pages,
                f"not found; closest passage {{at}} differs by {edits} edits (score {score:.2f})")


def _simple_fold(s: str, skip: str) -> str:
    """Normalise like normalize(), but with one rule left out (to see whether a match needed it)."""
    out = []
    for c in s:
        rep, rule = (" ", "whitespace") if c.isspace() else _CHARMAP.get(c, (c, ""))
        out.append(c if rule == skip else rep)
    text = "".join(out)
    if skip != "nfkc":
        text = unicodedata.normalize("NFKC", text)
    if skip != "case":
        text = text.casefold()
    if skip != "yo":
        text = text.replace("\u0451", "\u0435")
    if skip != "whitespace":
        text = " ".join(text.split())
    return text


def needed_rules(exact: str, quote: str, fired: Sequence[str]) -> tuple[str, ...]:
    """The rules among `fired` without which the stored passage and the quote would differ."""
    if hyphenation.RULE in fired:
        exact = hyphenation.as_quoted(exact, quote)
        return tuple(sorted({hyphenation.RULE} | set(needed_rules(exact, quote, [r for r in fired if r != hyphenation.RULE]))))
    return tuple(sorted(r for r in fired if _simple_fold(exact, r) != _simple_fold(quote, r)))
