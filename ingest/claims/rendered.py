"""The browser visibility pass: the archived page rendered in Chromium with the network off, each
quote's text range located in the rendered DOM and measured (boxes, computed style, clipping,
contrast against the painted background).

Every request the page makes is answered from the archive or refused (route interception), so
nothing is fetched; what was refused is counted in the verdict's detail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ingest.claims.domtext import locate, prepare
from ingest.claims.verdict import (
    HIDDEN,
    MIN_CONTRAST,
    MIN_FONT_PX,
    UNCHECKED,
    Verdict,
    best,
    occurrence,
)

TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 800}
Lookup = Callable[[str], "tuple[bytes, str] | None"]  # URL -> (archived bytes, content type)

COLLECT_JS = r"""() => {
  const BLOCK = new Set(%BLOCK%);
  const SKIP = new Set(["script", "style", "head", "title"]);
  const nodes = [], tokens = [];
  const walk = (n, inTemplate) => {
    if (n.nodeType === 3) { nodes.push([n, inTemplate]); tokens.push(n.data); return; }
    if (n.nodeType !== 1 && n.nodeType !== 11) return;
    const tag = n.nodeType === 1 ? n.localName : "";
    if (SKIP.has(tag)) return;
    const block = BLOCK.has(tag);
    if (block) tokens.push(null);
    for (const c of n.childNodes) walk(c, inTemplate);
    if (tag === "template" && n.content) for (const c of n.content.childNodes) walk(c, true);
    if (block) tokens.push(null);
  };
  walk(document.documentElement, false);
  window.__khronikaNodes = nodes;
  return tokens;
}"""

MEASURE_JS = r"""([segments, MIN_FONT, MIN_CONTRAST]) => {
  const nodes = window.__khronikaNodes;
  const doc = document.documentElement, body = document.body;
  const W = Math.max(doc.scrollWidth, body ? body.scrollWidth : 0);
  const H = Math.max(doc.scrollHeight, body ? body.scrollHeight : 0);
  const sx = window.scrollX, sy = window.scrollY;
  const rgba = (s) => {
    const m = /^rgba?\(([^)]*)\)$/.exec(s || "");
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (t, b) => {
    const a = t[3] + b[3] * (1 - t[3]);
    if (a === 0) return [0, 0, 0, 0];
    return [0, 1, 2].map(i => (t[i] * t[3] + b[i] * b[3] * (1 - t[3])) / a).concat([a]);
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const px = (v) => parseFloat(v) || 0;
  const hidden = (reason, detail) => ({state: "hidden", reason, detail: detail || {}});
  const one = ([i, s, e]) => {
    const [n, inTemplate] = nodes[i];
    if (inTemplate) return hidden("template");
    const el = n.parentElement;
    if (!el) return hidden("zero size");
    let interaction = null, child = null;
    for (let a = el; a; child = a, a = a.parentElement) {
      const st = getComputedStyle(a);
      if (st.display === "none") {
        if (a.style.display === "none") return hidden("display:none");
        return hidden(a.hasAttribute("hidden") ? "hidden attribute" : "display:none from stylesheet");
      }
      if (a.localName === "details" && !a.open) {
        const summary = a.querySelector(":scope > summary");
        if (child === null || child !== summary) interaction = interaction || "inside a closed <details>";
      }
      if (a.getAttribute("hidden") === "until-found") interaction = interaction || "hidden until found (shown by find in page)";
    }
    const cs = getComputedStyle(el);
    if (cs.visibility !== "visible") {
      let inline = false;
      for (let a = el; a; a = a.parentElement) if (a.style.visibility && a.style.visibility !== "inherit") { inline = a.style.visibility !== "visible"; break; }
      return hidden("visibility:" + cs.visibility + (inline ? "" : " from stylesheet"));
    }
    const size = px(cs.fontSize);
    if (size <= 0) return hidden("font size 0", {font_px: size});
    if (size < MIN_FONT) return hidden("font size below " + MIN_FONT + " px", {font_px: size});
    for (let a = el; a; a = a.parentElement) if (px(getComputedStyle(a).opacity) < 0.05) return hidden("transparent");
    const fill = rgba(cs.webkitTextFillColor) || rgba(cs.color);
    if (!fill) return {state: "visibility unchecked", reason: "text colour " + cs.color + " not evaluated", detail: {}};
    if (fill[3] < 0.05) return hidden("transparent");
    if (interaction) return {state: "visible on interaction", reason: interaction, detail: {}};
    const range = document.createRange();
    range.setStart(n, s); range.setEnd(n, e);
    const rects = [...range.getClientRects()].filter(r => r.width >= 0.5 && r.height >= 0.5);
    if (!rects.length) return hidden("zero size");
    for (const r of rects) {
      if (r.right + sx <= 0 || r.bottom + sy <= 0 || r.left + sx >= W || r.top + sy >= H) return hidden("off-screen");
      const box = {l: r.left, t: r.top, r: r.right, b: r.bottom};
      let escaping = null;
      for (let a = el; a && a !== doc; a = a.parentElement) {
        const st = getComputedStyle(a);
        if (escaping === "fixed" && a !== el) break;
        const ab = a.getBoundingClientRect();
        if (a === el || escaping !== "abs" || st.position !== "static") {
          if (st.overflowX !== "visible") { box.l = Math.max(box.l, ab.left); box.r = Math.min(box.r, ab.right); }
          if (st.overflowY !== "visible") { box.t = Math.max(box.t, ab.top); box.b = Math.min(box.b, ab.bottom); }
        }
        if (st.clip && st.clip !== "auto" && (st.position === "absolute" || st.position === "fixed")) {
          const c = /rect\(([^)]*)\)/.exec(st.clip);
          const v = c ? c[1].split(/[\s,]+/).filter(Boolean) : [];
          if (v.length === 4) {
            const edge = (x, far) => x === "auto" ? far : px(x);
            box.t = Math.max(box.t, ab.top + edge(v[0], 0)); box.r = Math.min(box.r, ab.left + edge(v[1], ab.width));
            box.b = Math.min(box.b, ab.top + edge(v[2], ab.height)); box.l = Math.max(box.l, ab.left + edge(v[3], 0));
          }
        }
        if (st.clipPath && st.clipPath !== "none") {
          const m = /^inset\(([^)]*)\)$/.exec(st.clipPath);
          const v = m ? m[1].split(/\s+round\s+/)[0].split(/\s+/) : null;
          if (!v || v.some(x => !/^-?[\d.]+(px|%)?$/.test(x))) return {state: "visibility unchecked", reason: "clip-path " + st.clipPath + " not evaluated", detail: {}};
          const len = (x, whole) => x.endsWith("%") ? px(x) * whole / 100 : px(x);
          const [t, ri, bo, le] = [v[0], v[1] || v[0], v[2] || v[0], v[3] || v[1] || v[0]];
          box.t = Math.max(box.t, ab.top + len(t, ab.height)); box.r = Math.min(box.r, ab.right - len(ri, ab.width));
          box.b = Math.min(box.b, ab.bottom - len(bo, ab.height)); box.l = Math.max(box.l, ab.left + len(le, ab.width));
        }
        escaping = st.position === "fixed" ? "fixed" : st.position === "absolute" ? "abs" : st.position === "static" ? escaping : null;
      }
      const area = Math.max(0, box.r - box.l) * Math.max(0, box.b - box.t);
      if (area < 0.5 * r.width * r.height) return hidden("clipped");
    }
    let bg = [0, 0, 0, 0];
    for (let a = el; a && bg[3] < 0.999; a = a.parentElement) {
      const st = getComputedStyle(a);
      if (st.backgroundImage !== "none") return {state: "visibility unchecked", reason: "contrast against a background image not evaluated", detail: {}};
      const c = rgba(st.backgroundColor);
      if (!c) return {state: "visibility unchecked", reason: "background colour " + st.backgroundColor + " not evaluated", detail: {}};
      bg = over(bg, c);
    }
    bg = over(bg, [255, 255, 255, 1]);
    const text = over(fill, bg);
    const [hi, lo] = [lum(text), lum(bg)].sort((x, y) => y - x);
    const contrast = Math.round((hi + 0.05) / (lo + 0.05) * 100) / 100;
    if (contrast < MIN_CONTRAST) return hidden("text colour close to background", {contrast});
    return {state: "visible", reason: "", detail: {font_px: size, contrast}};
  };
  return segments.map(one);
}"""


def _utf16(text: str, i: int) -> int:
    """A code-point offset as the browser counts it (UTF-16 code units)."""
    return len(text[:i].encode("utf-16-le")) // 2


def render(browser: Any, url: str, body: bytes, content_type: str, quotes: list[str],
           lookup: Lookup) -> tuple[list[Verdict], dict[str, int]]:
    """A verdict per quote on one archived page, and the count of refused requests by kind."""
    from playwright.sync_api import Error

    from ingest.claims.domtext import BLOCK_TAGS

    refused: Counter[str] = Counter()
    page_url = url.split("#", 1)[0]

    def answer(route: Any) -> None:
        wanted = route.request.url.split("#", 1)[0]
        if wanted == page_url:
            route.fulfill(status=200, body=body, headers={"content-type": content_type})
            return
        held = lookup(wanted)
        if held is None:
            refused[route.request.resource_type] += 1
            route.abort("blockedbyclient")
        else:
            route.fulfill(status=200, body=held[0], headers={"content-type": held[1]})

    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=True, service_workers="block")
    try:
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", answer)
        page = context.new_page()
        page.goto(page_url, wait_until="load", timeout=TIMEOUT_MS)
        tokens = page.evaluate(COLLECT_JS.replace("%BLOCK%", repr(sorted(BLOCK_TAGS))))
        prepared = prepare(tokens)
        hits_per_quote = [locate(prepared, q) for q in quotes]
        texts = [t for t in tokens if t is not None]
        segments, owners = [], []
        for qi, hits in enumerate(hits_per_quote):
            for hi, hit in enumerate(hits):
                for piece in hit:
                    text = texts[piece.node]
                    segments.append([piece.node, _utf16(text, piece.start), _utf16(text, piece.end)])
                    owners.append((qi, hi))
        measured = page.evaluate(MEASURE_JS, [segments, MIN_FONT_PX, MIN_CONTRAST]) if segments else []
    except Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return [Verdict(UNCHECKED, f"rendering in Chromium failed: {first[:200]}") for _ in quotes], dict(refused)
    finally:
        context.close()
    by_hit: dict[tuple[int, int], list[Verdict]] = {}
    for (qi, hi), m in zip(owners, measured):
        by_hit.setdefault((qi, hi), []).append(Verdict(m["state"], m["reason"], m.get("detail") or {}))
    verdicts = []
    for qi, hits in enumerate(hits_per_quote):
        found = best(occurrence(by_hit.get((qi, hi), [])) for hi in range(len(hits)))
        verdicts.append(found or Verdict(HIDDEN, "not in the rendered page's text"))
    return verdicts, dict(refused)

