"""Block structure of an extraction: where each paragraph, heading, list item, cell or page part lies in its text.

A block is kept as runs ``[start, end, name]`` in code-point offsets of the extraction's text,
sorted and never overlapping; a block interrupted by another (a list item continued after its
sublist) has one run per piece under the same name. Text between runs (line breaks, list
markers, the ``|`` between table cells) belongs to no block. The text itself is never touched:
blocks are found beside it, so text hashes and anchors stay what they were.

* HTML: trafilatura's XML tree (the very tree its text output is made from), walked in the order
  trafilatura writes it and matched onto the text output character by character.
* PDF: pypdf's own text positions (the same ``extract_text`` call, with a visitor): a new
  paragraph starts where the vertical step between two lines is clearly larger than the page's
  usual line spacing, the font size changes, or text goes back up the page; a line wrap is not a
  boundary. Pages are always separate.
* plain text: paragraphs separated by blank lines.

When the tree or the positions cannot be matched onto the text, every line is its own block: a
quote may then be refused for crossing a line wrap, never accepted across a real boundary.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

HTML_METHOD = "trafilatura-tree/1"
PDF_METHOD = "pypdf-positions/1"
TEXT_METHOD = "blank-lines/1"
LINES_METHOD = "lines/1"

# Characters trafilatura writes that come from no element's text: list markers, cell bars,
# the escape before a literal bar, the line under a header row.
_INSERTED = frozenset("-|\\")
_RESYNC = 16  # output characters from nowhere tolerated between two matched pieces
_UNMATCHED_SHARE = 0.02  # more of the text than this left unmatched: the match has failed

_HTML_KINDS = {"p": "paragraph", "head": "heading", "item": "list item", "cell": "table cell",
               "quote": "quotation", "code": "code block"}
_INLINE_OWNERS = ("paragraph", "heading", "list item", "table cell", "caption")

Run = list  # [start, end, name]


def record(method: str, runs: list[Run], **notes: Any) -> dict[str, Any]:
    """The `blocks` value of an Extraction: how the blocks were found and the runs."""
    return {"method": method, **notes, "blocks": runs}


# -- matching pieces of text onto the output ---------------------------------------------------


def label_chars(text: str, pieces: Iterable[tuple[str, Any]]) -> tuple[list[int], list[Any]] | None:
    """Give each non-space character of `text` the label of the piece it came from.

    `pieces` are (piece text, label) in the order the text was written from them. Returns the
    offsets of the non-space characters and their labels (None: written from no piece), or None
    when the pieces do not account for the text.
    """
    where = [i for i, c in enumerate(text) if not c.isspace()]
    dense = "".join(text[i] for i in where)
    labels: list[Any] = [None] * len(dense)
    k = 0
    for piece, label in pieces:
        s = "".join(piece.split())
        if not s:
            continue
        if dense.startswith(s, k):
            labels[k:k + len(s)] = [label] * len(s)
            k += len(s)
            continue
        p = dense.find(s, k, k + len(s) + _RESYNC)
        if p != -1:
            labels[p:p + len(s)] = [label] * len(s)
            k = p + len(s)
            continue
        # The piece was altered on the way (entities unescaped, characters dropped): match what
        # is left of it one character at a time.
        for c in s:
            while k < len(dense) and dense[k] != c and dense[k] in _INSERTED:
                k += 1
            if k < len(dense) and dense[k] == c:
                labels[k] = label
                k += 1
    unmatched = sum(1 for c, lab in zip(dense, labels) if lab is None and c not in _INSERTED)
    if unmatched > _UNMATCHED_SHARE * len(dense) + 2:
        return None
    return where, labels


def runs_of(where: list[int], labels: list[Any]) -> list[Run]:
    """Runs of consecutive characters with one label; unlabelled characters inside a run are kept in it."""
    runs: list[Run] = []
    current: Any = None
    for pos, label in zip(where, labels):
        if label is None:
            continue
        if runs and label == current:
            runs[-1][1] = pos + 1
        else:
            runs.append([pos, pos + 1, label])
            current = label
    return runs


def numbered(runs: list[Run], kind_of: Any) -> list[Run]:
    """Replace each run's label by "<kind> <n>", numbering each kind in order of appearance."""
    counters: dict[str, int] = {}
    names: dict[Any, str] = {}
    for run in runs:
        label = run[2]
        if label not in names:
            kind = kind_of(label)
            counters[kind] = counters.get(kind, 0) + 1
            names[label] = f"{kind} {counters[kind]}"
        run[2] = names[label]
    return runs


def line_runs(text: str, lo: int = 0, hi: int | None = None, prefix: str = "", start: int = 1) -> list[Run]:
    """Every non-blank line of text[lo:hi] as its own block ("line N")."""
    hi = len(text) if hi is None else hi
    runs: list[Run] = []
    pos = lo
    for line in text[lo:hi].splitlines(keepends=True):
        stripped = line.strip()
        if stripped:
            first = pos + (len(line) - len(line.lstrip()))
            runs.append([first, first + len(line.rstrip()) - (len(line) - len(line.lstrip())),
                         f"{prefix}line {start + len(runs)}"])
        pos += len(line)
    return runs


# -- plain text ----------------------------------------------------------------------------------


def text_blocks(text: str) -> dict[str, Any]:
    """Blank-line-separated paragraphs of a plain text."""
    runs: list[Run] = []
    pos = 0
    para: list[int] | None = None
    for line in text.splitlines(keepends=True):
        if line.strip():
            first = pos + len(line) - len(line.lstrip())
            last = pos + len(line.rstrip())
            if para is None:
                para = [first, last]
                runs.append(para)
            else:
                para[1] = last
        else:
            para = None
        pos += len(line)
    return record(TEXT_METHOD, [[s, e, f"paragraph {n}"] for n, (s, e) in enumerate(runs, 1)])


# -- HTML ----------------------------------------------------------------------------------------


def html_blocks(text: str, body: Any, captions: set[str]) -> dict[str, Any]:
    """Blocks of trafilatura's text from the tree it was written from (`body`, lxml)."""
    pieces: list[tuple[str, Any]] = []
    kinds: dict[int, str] = {0: "text"}

    def walk(elem: Any, owner: int) -> None:
        tag = elem.tag if isinstance(elem.tag, str) else ""
        kind = _HTML_KINDS.get(tag)
        if kind in ("quotation", "code block") and kinds[owner] in _INLINE_OWNERS:
            kind = None  # an inline <q> or <code> belongs to the paragraph around it
        if kind == "table cell" and elem.get("role") == "head" and _squash(elem.text) in captions:
            kind = "caption"  # trafilatura writes a table's <caption> as a header cell
        me = owner
        if kind is not None:
            me = len(kinds)
            kinds[me] = kind
        if elem.text:
            pieces.append((elem.text, me))
        for child in elem:
            walk(child, me)
            if child.tail:
                pieces.append((child.tail, me))

    if body is not None:
        walk(body, 0)
    matched = label_chars(text, pieces) if pieces else None
    if matched is None:
        return record(LINES_METHOD, line_runs(text), note="trafilatura's tree could not be matched onto its text")
    return record(HTML_METHOD, numbered(runs_of(*matched), lambda label: kinds[label]))


def caption_texts(html: str) -> set[str]:
    """The text of every <caption> in the page, as trafilatura copies it into a header cell."""
    if "<caption" not in html.lower():
        return set()
    try:
        import lxml.html

        tree = lxml.html.document_fromstring(html)
    except Exception:  # a page lxml cannot read has no captions we can name
        return set()
    return {_squash(" ".join(c.itertext())) for c in tree.iter("caption")} - {""}


def _squash(s: str | None) -> str:
    return " ".join((s or "").split())


# -- PDF -----------------------------------------------------------------------------------------


class PdfLines:
    """Collects pypdf's text pieces and where on the page each one was drawn (a visitor_text)."""

    def __init__(self) -> None:
        self.pieces: list[tuple[str, float, float]] = []  # (text, position across lines, font size)

    def __call__(self, text: str, cm: Sequence[float], tm: Sequence[float], font: Any, size: float) -> None:
        if not text:
            return
        # The text matrix in page space: its first row is the writing direction, and the
        # baseline's position across that direction is what orders lines on the page.
        a = tm[0] * cm[0] + tm[1] * cm[2]
        b = tm[0] * cm[1] + tm[1] * cm[3]
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        norm = (a * a + b * b) ** 0.5 or 1.0
        across = (-b * x + a * y) / norm
        scale = (c * c + d * d) ** 0.5 or 1.0
        self.pieces.append((text, across, float(size or 0) * scale))


def pdf_page_runs(text: str, lo: int, hi: int, lines: PdfLines, page: int, start: int) -> tuple[list[Run], bool]:
    """Paragraph runs of one page, text[lo:hi], numbered from `start`; False if lines were used instead."""
    region = text[lo:hi]
    prefix = f"page {page}, "
    matched = label_chars(region, ((t, i) for i, (t, _, _) in enumerate(lines.pieces)))
    if matched is None:
        return line_runs(text, lo, hi, prefix), False
    first_label = dict(zip(*matched))
    # (first offset, end offset, piece index or None) for every line; None: blank line
    rows: list[tuple[int, int, int | None]] = []
    pos = 0
    for line in region.splitlines(keepends=True):
        body = line.rstrip()
        if body.strip():
            first = pos + len(line) - len(line.lstrip())
            rows.append((first, pos + len(body), first_label.get(first)))
        else:
            rows.append((pos, pos, None))
        pos += len(line)
    steps = [_step(lines, p, q) for p, q in zip(rows, rows[1:])]
    usual = statistics.median_low([s for s in steps if s is not None and s > 0.5] or [0.0])
    paragraphs: list[list[int]] = []
    fresh = True
    for i, (first, end, piece) in enumerate(rows):
        if first == end:  # a blank line ends a paragraph
            fresh = True
            continue
        if i and not fresh and _breaks(lines, rows[i - 1][2], piece, steps[i - 1], usual):
            fresh = True
        if fresh:
            paragraphs.append([lo + first, lo + end])
            fresh = False
        else:
            paragraphs[-1][1] = lo + end
    return [[s, e, f"{prefix}paragraph {n}"] for n, (s, e) in enumerate(paragraphs, start)], True


def _step(lines: PdfLines, a: tuple[int, int, int | None], b: tuple[int, int, int | None]) -> float | None:
    if a[2] is None or b[2] is None or a[2] == b[2]:
        return None
    return lines.pieces[a[2]][1] - lines.pieces[b[2]][1]


def _breaks(lines: PdfLines, before: int | None, after: int | None, step: float | None, usual: float) -> bool:
    if before is None or after is None:
        return True  # a line we cannot place: do not join it to the one before
    if before == after:
        return False  # one piece of text written over several lines
    assert step is not None
    size_a, size_b = lines.pieces[before][2], lines.pieces[after][2]
    if abs(size_a - size_b) > 0.15 * max(size_a, size_b, 1.0):
        return True  # a heading and the text under it
    if step <= 0.5:
        return True  # back up the page (a new column) or on the same baseline
    return step > usual * 1.3 + 0.5
