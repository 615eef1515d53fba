"""Whether an HTML capture holds the page's text: application shells, main text tiny against markup.

A page whose text a script renders in the reader's browser is archived as its shell ("Loading…");
the capture is then `incomplete`, with a reason, and the run says so and fails, so that nobody
takes an empty capture for the page. The signals are heuristics, each named in the reason.
"""

from __future__ import annotations

import re
from typing import Any

TINY_TEXT = 200  # main text shorter than this ...
TINY_SHARE = 0.02  # ... and under this share of the markup is "tiny against its markup"
ROOT_IDS = frozenset({"root", "app", "__next", "___gatsby", "__nuxt", "q-app", "react-root", "app-root",
                      "application", "main-app", "svelte"})
_LOADING = 40  # a root holding at most this many characters ("Loading…") counts as empty
_ASKS_FOR_JS = re.compile(r"javascript|\bjs\b", re.IGNORECASE)


# libxml2's HTML parser (under lxml, so under trafilatura) keeps no element deeper than this unless
# asked for "huge" trees: what lies below is dropped without an error anyone sees.
PARSER_DEPTH = 255
HUGE_DEPTH = 2047  # ... and even with them, none deeper than this


def depth_loss(html: str) -> str | None:
    """Why the page's text is not all in what an HTML parser keeps (markup nested deeper than
    PARSER_DEPTH: the parse drops it, and with it any quote there), or None. A parse without the
    limit says how much text the usual parse lost; a page merely that deep loses none and passes."""
    try:
        import lxml.html
        from lxml import etree

        root = lxml.html.document_fromstring(html)
    except Exception:  # unparsable markup: nothing to compare
        return None

    def deepest(tree: Any) -> int:
        depth = most = 0
        for event, _ in etree.iterwalk(tree, events=("start", "end")):
            depth += 1 if event == "start" else -1
            most = max(most, depth)
        return most

    if deepest(root) < PARSER_DEPTH - 1:
        return None
    said = f"markup nested deeper than {PARSER_DEPTH} levels: the HTML parser drops what lies below"
    try:
        whole = lxml.html.document_fromstring(html, parser=lxml.html.HTMLParser(huge_tree=True))
    except Exception:
        return f"{said}; how much of the page's text that is could not be told"
    if deepest(whole) >= HUGE_DEPTH - 1:  # even the unlimited parse stops: some text may be lost, how much is unknown
        return f"{said} (and past {HUGE_DEPTH}, where every parse here stops); how much of the page's text is lost is not known"
    kept, full = len(" ".join(root.text_content().split())), len(" ".join(whole.text_content().split()))
    if full <= kept:
        return None
    return f"{said}, {full - kept} characters of the page's text are not in the extraction"


def incomplete_reason(html: str, main_text: str | None) -> str | None:
    """Why the decoded page `html` does not hold its text (main text `main_text`), or None."""
    main = len((main_text or "").strip())
    if main >= TINY_TEXT:
        return None
    try:
        import lxml.html

        root = lxml.html.document_fromstring(html)
    except Exception:  # unparsable markup is judged by its size alone
        root = None
    if root is not None:
        shell = _shell(root)
        if shell:
            return f"application shell: {shell}; the page's text is rendered by JavaScript"
    if html and main < len(html) * TINY_SHARE:
        return f"main text is tiny against its markup: {main} characters of text in {len(html)} characters of HTML"
    return None


def _shell(root: Any) -> str | None:
    for noscript in root.iter("noscript"):
        words = " ".join(noscript.text_content().split())
        if _ASKS_FOR_JS.search(words):
            return f"<noscript> asks for JavaScript ({words[:80]!r})"
    bundles = [s.get("src") for s in root.iter("script") if s.get("src")]
    for element in root.iter("div", "main", "app-root", "section"):
        ident = (element.get("id") or "").strip().lower()
        if ident in ROOT_IDS and len(" ".join(element.text_content().split())) <= _LOADING and bundles:
            return f'empty root element <{element.tag} id="{element.get("id")}"> and {len(bundles)} script bundle(s)'
    return None


def record_incomplete(archive: Any, blake3: str, reason: str | None) -> list[str]:
    """Mark the captures of `blake3` incomplete (and the attempts that made them) when `reason` is
    given; return "source: reason" for each. Each is a logged revision of the row, so the flag is
    evidence like the rest."""
    marked: list[str] = []
    if not reason:
        return marked
    for cap in list(archive.db.query("SELECT * FROM captures WHERE blake3 = ? AND incomplete IS NULL", [blake3])):
        cap["incomplete"] = reason
        archive.record("capture_incomplete", "captures", str(cap["id"]), cap)
        for att in list(archive.db.query("SELECT * FROM attempts WHERE capture_id = ? AND outcome = 'captured'",
                                         [cap["id"]])):
            att.update(outcome="incomplete", error=reason)
            archive.record("attempt_incomplete", "attempts", str(att["id"]), att)
        marked.append(f"{cap['source_id']}: {reason}")
    return marked
