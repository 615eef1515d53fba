"""The `hyphenation` rule: a word split by a hyphen at a line end ("vio-\\nlation") is one word.

A printed "well-\\nknown" may be a split word or a compound that happened to break at its own
hyphen, and print cannot tell them apart: a quote "wellknown" and a quote "well-known" both fit
it, and the stored passage keeps the hyphen and line break as they are. A hyphen the quote has
is never dropped, and a hyphen not at a line end is never joined.
"""

from __future__ import annotations

import re

RULE = "hyphenation"
MARK = "\ufdd0"  # a Unicode noncharacter: one line-end hyphen in the normalised text
_HYPHENS = "-\u2010\u00ad"
_LETTER = r"[^\W\d_]"
# In normalised text a line-end hyphen is "-" and one space (or one space: a soft hyphen was dropped).
_CANDIDATE = re.compile(rf"(?<={_LETTER})-? (?={_LETTER})")
_LINE_END = re.compile(rf"[ \t]*[{_HYPHENS}][ \t\r]*[\n\r\f\v\x85\u2028\u2029]\s*")


def mark_line_ends(original: str, ntext: str, where: list[int]) -> tuple[str, list[int]] | None:
    """`ntext` (normalised `original`, `where` its offset map) with each line-end hyphen and its
    line break as one MARK; None when there is none (or the text holds MARK itself)."""
    if MARK in ntext:
        return None
    out: list[str] = []
    owhere: list[int] = []
    last = 0
    for m in _CANDIDATE.finditer(ntext):
        i, j = m.start(), m.end()
        if not _LINE_END.fullmatch(original, where[i - 1] + 1, where[j]):
            continue
        out.append(ntext[last:i])
        owhere.extend(where[last:i])
        out.append(MARK)
        owhere.append(where[i])
        last = j
    if not out:
        return None
    out.append(ntext[last:])
    owhere.extend(where[last:])  # includes the final len(original)
    return "".join(out), owhere


def pattern(nquote: str) -> re.Pattern[str]:
    """The normalised quote, where a line-end hyphen may stand between two letters, and for a
    hyphen of the quote's own between two letters."""
    parts = []
    for k, c in enumerate(nquote):
        prev_letter = k > 0 and _is_letter(nquote[k - 1])
        next_letter = k + 1 < len(nquote) and _is_letter(nquote[k + 1])
        if c == "-" and prev_letter and next_letter:
            parts.append(f"(?:-|{MARK})")
            continue
        parts.append(re.escape(c))
        if _is_letter(c) and next_letter:
            parts.append(f"{MARK}?")
    return re.compile("".join(parts))


def find(marked: str, nquote: str) -> list[tuple[int, int]]:
    """[start, end) in `marked` of every match that crosses at least one line-end hyphen."""
    rx, hits, pos = pattern(nquote), [], 0
    while True:
        m = rx.search(marked, pos)
        if m is None:
            return hits
        if MARK in m.group():
            hits.append((m.start(), m.end()))
        pos = m.start() + 1


def as_quoted(exact: str, quote: str) -> str:
    """The stored passage with its line-end hyphens joined the way the quote has them, so the
    other rules can be judged on it."""
    def join(m: re.Match[str]) -> str:
        hyphen = m.group().strip()[:1]
        before = exact[max(0, m.start() - 12):m.start()].split()[-1:] or [""]
        keep = f"{before[0]}-" in quote or f"{before[0]}\u2010" in quote
        return hyphen if keep and hyphen != "\u00ad" else ""

    return _LINE_END.sub(join, exact)


def _is_letter(c: str) -> bool:
    return c.isalpha()
