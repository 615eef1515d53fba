"""The CSS cascade for the few properties the static visibility pass resolves (tinycss2, cssselect, lxml).

Only `display`, `visibility` and `font-size` are resolved. Anything else that could hide text
(colours, positions, clipping, transforms, media queries, scripts, external stylesheets) makes
the page undecidable here, so that a browser decides it or it is recorded as unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import cssselect
import tinycss2

RESOLVED = frozenset({"display", "visibility", "font-size"})
# Properties that cannot make text unreadable, whatever their value.
HARMLESS = frozenset({
    "font-family", "font-weight", "font-style", "font-variant", "font-stretch", "line-height",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "text-align", "text-decoration", "text-decoration-line", "text-decoration-style",
    "text-decoration-color", "text-transform", "list-style", "list-style-type", "list-style-position",
    "white-space", "word-break", "overflow-wrap", "word-wrap", "hyphens", "cursor", "box-sizing",
    "max-width", "quotes", "border-collapse", "border-spacing", "table-layout", "caption-side",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-width", "border-style",
    "border-color", "border-radius", "outline", "outline-style", "outline-width", "outline-color",
    "font-feature-settings", "font-kerning", "text-rendering", "-webkit-font-smoothing",
})
# Selectors whose match depends on what the reader does: the page's look then depends on it too.
DYNAMIC = re.compile(r":(?:hover|focus|focus-within|focus-visible|active|target|checked|visited|"
                     r"indeterminate|open|popover-open|modal|has)\b", re.I)
IGNORED_AT_RULES = frozenset({"charset", "font-face", "namespace", "page"})
_TRANSLATOR = cssselect.HTMLTranslator()


@dataclass(frozen=True)
class Declaration:
    value: str  # lower-cased, serialised
    origin: str  # "inline" | "stylesheet"
    rank: tuple[int, int, tuple[int, int, int], int]  # (important, inline, specificity, order)


@dataclass
class Cascade:
    """The declarations of `display`, `visibility` and `font-size` that apply to each element."""

    declared: dict[Any, dict[str, Declaration]] = field(default_factory=dict)
    undecidable: list[str] = field(default_factory=list)  # why the page's look is not known here

    def get(self, element: Any, prop: str) -> Declaration | None:
        return self.declared.get(element, {}).get(prop)

    def _apply(self, element: Any, prop: str, decl: Declaration) -> None:
        held = self.declared.setdefault(element, {})
        if prop not in held or decl.rank >= held[prop].rank:
            held[prop] = decl

    def _note(self, why: str) -> None:
        if why not in self.undecidable:
            self.undecidable.append(why)


def _declarations(tokens: Any) -> list[tuple[str, str, bool]]:
    out = []
    for item in tinycss2.parse_blocks_contents(tokens, skip_comments=True, skip_whitespace=True):
        if item.type == "declaration":
            value = tinycss2.serialize(item.value).strip().lower()
            out.append((item.lower_name, value, bool(item.important)))
    return out


def _risky(prop: str) -> bool:
    return prop not in RESOLVED and prop not in HARMLESS and not prop.startswith("--")


def build(root: Any) -> Cascade:
    """Resolve the page's own <style> sheets and style attributes against its parsed tree."""
    cascade = Cascade()
    order = 0
    for style in root.iter("style"):
        if any(a.tag == "template" for a in style.iterancestors()):
            continue
        media = (style.get("media") or "all").strip().lower()
        if media not in ("all", "screen", ""):
            cascade._note(f"a <style> sheet for media {media!r}")
            continue
        for rule in tinycss2.parse_stylesheet(style.text or "", skip_comments=True, skip_whitespace=True):
            if rule.type == "at-rule":
                if rule.lower_at_keyword not in IGNORED_AT_RULES:
                    cascade._note(f"a CSS @{rule.lower_at_keyword} rule")
                continue
            if rule.type != "qualified-rule":
                continue  # a parse error: browsers drop it too
            decls = _declarations(rule.content)
            if not decls:
                continue
            order = _apply_rule(cascade, root, tinycss2.serialize(rule.prelude).strip(), decls, order)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        inline = element.get("style")
        if inline:
            for prop, value, important in _declarations(tinycss2.parse_component_value_list(inline)):
                if _risky(prop):
                    cascade._note(f"CSS property {prop} in a style attribute")
                elif prop in RESOLVED:
                    cascade._apply(element, prop, Declaration(value, "inline", (int(important), 1, (0, 0, 0), 0)))
        for attr in ("color", "bgcolor", "text", "background"):
            if element.get(attr) is not None and element.tag in ("font", "body", "table", "td", "th", "tr", "div"):
                cascade._note(f"the presentational attribute {attr} on <{element.tag}>")
    return cascade


def _apply_rule(cascade: Cascade, root: Any, prelude: str, decls: list[tuple[str, str, bool]], order: int) -> int:
    try:
        selectors = cssselect.parse(prelude)
    except cssselect.SelectorError:
        cascade._note(f"the CSS selector {prelude[:60]!r} (not evaluated)")
        return order
    for selector in selectors:
        order += 1
        if selector.pseudo_element is not None or DYNAMIC.search(prelude):
            cascade._note(f"the CSS selector {prelude[:60]!r} (a pseudo-element or a state of the reader's)")
            continue
        try:
            matched = root.xpath(_TRANSLATOR.selector_to_xpath(selector))
        except (cssselect.SelectorError, cssselect.ExpressionError, ValueError):
            cascade._note(f"the CSS selector {prelude[:60]!r} (not evaluated)")
            continue
        if not matched:
            continue
        spec = selector.specificity()
        for prop, value, important in decls:
            if _risky(prop):
                cascade._note(f"CSS property {prop} in a <style> sheet")
            elif prop in RESOLVED:
                decl = Declaration(value, "stylesheet", (int(important), 0, spec, order))
                for element in matched:
                    cascade._apply(element, prop, decl)
    return order


# -- font sizes ------------------------------------------------------------------------------

KEYWORD_PX = {"xx-small": 9.0, "x-small": 10.0, "small": 13.0, "medium": 16.0, "large": 18.0,
              "x-large": 24.0, "xx-large": 32.0, "xxx-large": 48.0}
# What the browser's own style sheet gives some elements, relative to their parent.
UA_EM = {"h1": 2.0, "h2": 1.5, "h3": 1.17, "h5": 0.83, "h6": 0.67, "small": 1 / 1.2, "sub": 1 / 1.2,
         "sup": 1 / 1.2, "big": 1.2}
_LENGTH = re.compile(r"^([+]?(?:\d+\.?\d*|\.\d+))(px|pt|pc|em|rem|%|in|cm|mm|q)?$")
_UNIT_PX = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4, "q": 96 / 101.6}


def font_px(value: str, parent: float, root: float) -> float | None:
    """A font-size declaration in CSS pixels, given the parent's and the root's; None if not known here."""
    value = value.strip()
    if value in KEYWORD_PX:
        return KEYWORD_PX[value]
    if value == "smaller":
        return parent / 1.2
    if value == "larger":
        return parent * 1.2
    if value in ("inherit", "unset"):
        return parent
    if value == "initial":
        return 16.0
    m = _LENGTH.match(value)
    if not m:
        return None
    number, unit = float(m.group(1)), m.group(2)
    if unit is None:
        return 0.0 if number == 0 else None
    if unit == "em":
        return number * parent
    if unit == "rem":
        return number * root
    if unit == "%":
        return number * parent / 100
    return number * _UNIT_PX[unit]
