"""The static visibility pass: what the archived HTML alone says about whether a quote can be seen.

It decides what the markup and the page's own style sheets settle (the `hidden` attribute,
`<template>`, `display`, `visibility`, `font-size`, closed `<details>`). A page that runs
scripts, loads style sheets, or uses any CSS property that could hide text in ways this pass
does not resolve (colours, positions, clipping, media queries) is left undecided, for Chromium.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import lxml.etree
import lxml.html

from ingest.claims import cascade as css
from ingest.claims.domtext import locate, lxml_nodes, prepare
from ingest.claims.verdict import HIDDEN, INTERACTION, UNDECIDED, VISIBLE, Verdict, best, font_reason, occurrence
from ingest.text.charset import decode_html

# Elements whose content is fallback, shown only where the element itself cannot be.
NOT_RENDERED = frozenset({"canvas", "video", "audio", "iframe", "datalist", "noembed", "noframes", "rp"})
# Elements whose text this pass cannot place: the browser decides.
FOREIGN = frozenset({"svg", "math", "object", "embed", "noscript", "marquee", "select"})
INERT_SCRIPT_TYPES = frozenset({"application/ld+json", "application/json", "text/template", "text/x-template",
                                "text/html", "text/plain", "importmap", "speculationrules"})


_PARSER = lxml.html.HTMLParser(encoding="utf-8")


@lru_cache(maxsize=1)
def method() -> str:
    import cssselect
    import tinycss2

    return f"static (lxml {lxml.etree.__version__}, cssselect {cssselect.__version__}, tinycss2 {tinycss2.__version__})"


def _runs_scripts(root: Any) -> str | None:
    for script in root.iter("script"):
        kind = (script.get("type") or "").split(";")[0].strip().lower()
        if kind not in INERT_SCRIPT_TYPES and (script.get("src") or (script.text or "").strip()):
            return "the page runs scripts"
    for el in root.iter():
        if isinstance(el.tag, str) and any(name.lower().startswith("on") for name in el.attrib):
            return f"the page runs scripts (an event handler on <{el.tag}>)"
    return None


def _loads_styles(root: Any) -> str | None:
    for link in root.iter("link"):
        if "stylesheet" in (link.get("rel") or "").lower().split():
            return "the page loads a style sheet"
    for meta in root.iter("meta"):
        if (meta.get("http-equiv") or "").strip().lower() == "refresh":
            return "the page refreshes to another address"
    return None


class StaticPage:
    """One parsed page; `judge` each quote on it."""

    def __init__(self, data: bytes, charset: str | None) -> None:
        html = decode_html(data, charset)[0]
        try:
            self.root = lxml.html.document_fromstring(html.encode("utf-8"), parser=_PARSER)
        except (lxml.etree.ParserError, ValueError):
            self.root = None
            self.undecidable = ["the page could not be parsed as HTML"]
            return
        self.undecidable = [w for w in (_runs_scripts(self.root), _loads_styles(self.root)) if w]
        # A page that runs scripts or loads styles is left to Chromium whatever its own CSS says, so
        # its cascade is not built: that was most of the static pass's time on real pages (about
        # 80 ms of 100 ms a page on the development corpus's news pages, every one of which runs scripts).
        self.cascade = None if self.undecidable else css.build(self.root)
        if self.cascade is not None:
            self.undecidable += self.cascade.undecidable
        tokens, self.owners = lxml_nodes(self.root)
        self.text = prepare(tokens)
        self._memo: dict[Any, Verdict] = {}

    def judge(self, quote: str) -> Verdict:
        if self.root is None:
            return Verdict(UNDECIDED, self.undecidable[0])
        hits = locate(self.text, quote)
        if not hits:
            return Verdict(UNDECIDED, "the quote was not located in the page's text nodes")
        if self.undecidable:
            return Verdict(UNDECIDED, self.undecidable[0])
        verdict = best(occurrence(self._element(self.owners[p.node][0]) for p in hit) for hit in hits)
        assert verdict is not None
        return verdict

    def _element(self, el: Any) -> Verdict:
        if el not in self._memo:
            self._memo[el] = self._judge_element(el)
        return self._memo[el]

    def _judge_element(self, el: Any) -> Verdict:
        assert self.cascade is not None  # judge() asks only on a page that has one
        chain = [el, *el.iterancestors()][::-1]
        size = root_size = 16.0
        hidden_by: tuple[str, str] | None = None  # (visibility value, origin) in force
        interaction: Verdict | None = None
        for i, a in enumerate(chain):
            tag = a.tag
            if tag == "template":
                return Verdict(HIDDEN, "template")
            if tag in NOT_RENDERED:
                return Verdict(HIDDEN, f"not rendered (fallback content of <{tag}>)")
            if tag in FOREIGN:
                return Verdict(UNDECIDED, f"text inside <{tag}>")
            display = self.cascade.get(a, "display")
            if display is not None and display.value == "none":
                return Verdict(HIDDEN, "display:none" + (" from stylesheet" if display.origin == "stylesheet" else ""))
            if display is None:  # the browser's own sheet: [hidden] and closed dialogs are not shown
                hidden = a.get("hidden")
                if hidden is not None and hidden.strip().lower() == "until-found":
                    interaction = interaction or Verdict(INTERACTION, "hidden until found (shown by find in page)")
                elif hidden is not None:
                    return Verdict(HIDDEN, "hidden attribute")
                if tag == "dialog" and a.get("open") is None:
                    return Verdict(HIDDEN, "not rendered (a closed <dialog>)")
            if tag == "details" and a.get("open") is None:
                toward = chain[i + 1] if i + 1 < len(chain) else None
                summary = next((c for c in a if c.tag == "summary"), None)
                if toward is None or toward is not summary:
                    interaction = interaction or Verdict(INTERACTION, "inside a closed <details>")
            visibility = self.cascade.get(a, "visibility")
            if visibility is not None:
                if visibility.value in ("hidden", "collapse"):
                    hidden_by = (visibility.value, visibility.origin)
                elif visibility.value == "visible":
                    hidden_by = None
                elif visibility.value != "inherit":
                    return Verdict(UNDECIDED, f"visibility {visibility.value} (not resolved statically)")
            declared = self.cascade.get(a, "font-size")
            if declared is not None:
                px = css.font_px(declared.value, size, root_size)
                if px is None:
                    return Verdict(UNDECIDED, f"font-size {declared.value} (not resolved statically)")
                size = px
            elif tag in css.UA_EM:
                size *= css.UA_EM[tag]
            if tag == "html":
                root_size = size
        if hidden_by is not None:
            value, origin = hidden_by
            return Verdict(HIDDEN, f"visibility:{value}" + (" from stylesheet" if origin == "stylesheet" else ""))
        small = font_reason(size)
        if small:
            return Verdict(HIDDEN, small, {"font_px": round(size, 2)})
        return interaction or Verdict(VISIBLE)
