"""Marked screenshots: a quoted passage boxed in the rendered page, made from archived material only.

For a citation anchored in a browser capture, the capture's rendered DOM is loaded again in
Chromium with scripts off and every request answered from that capture's own WARC response
records (anything not there is refused: the network is never reached), the passage is found in
the page's text, each line of it is boxed, and the part of the page around it is photographed.
The boxes (in the image's pixels) and every resource served or refused are recorded with the
PNG, so anyone can make it again from the archive and check it. A passage the rendered text does
not hold gets no picture, and the row says why: never a box around something else.
"""

from __future__ import annotations

import json
from typing import Any

from ingest.capture.decode import content_encodings, decode_body
from ingest.store.log import utcnow as now
from ingest.claims.recording import store
from ingest.errors import FetchFailed
from ingest.store import db as dbm
from ingest.store.warcs import WarcReadError, parse_member, record_at

CONTEXT_PX = 300  # page above and below the passage kept in the picture
MAX_HEIGHT = 4000
MAX_RESOURCE = 32 * 2**20
BOX = "3px solid #d40000"

# Finds `needle` in the page's text with runs of white space as one space on both sides, and
# returns the client rectangles of each line of the match (document coordinates).
_FIND = """(needle) => {
  const norm = s => s.replace(/\\s+/g, ' ');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const nodes = []; let text = ''; const map = [];
  let lastSpace = true;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement; if (p && ['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(p.tagName)) continue;
    const v = n.nodeValue;
    for (let i = 0; i < v.length; i++) {
      const space = /\\s/.test(v[i]);
      if (space && lastSpace) continue;
      text += space ? ' ' : v[i]; map.push([n, i]); lastSpace = space;
    }
  }
  const want = norm(needle).trim();
  const at = text.indexOf(want);
  if (at < 0 || !want) return {found: false, count: 0};
  const count = text.split(want).length - 1;
  const range = document.createRange();
  const [sn, so] = map[at]; const [en, eo] = map[at + want.length - 1];
  range.setStart(sn, so); range.setEnd(en, eo + 1);
  const rects = Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0)
    .map(r => ({x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}));
  return {found: true, count, rects};
}"""

_DRAW = """([rects, style]) => {
  for (const r of rects) {
    const d = document.createElement('div');
    d.setAttribute('data-khronika-box', '');
    Object.assign(d.style, {position: 'absolute', left: (r.x - 3) + 'px', top: (r.y - 3) + 'px',
      width: (r.width + 6) + 'px', height: (r.height + 6) + 'px', border: style, boxSizing: 'border-box',
      pointerEvents: 'none', zIndex: 2147483647});
    document.body.appendChild(d);
  }
}"""


def _responses(archive: Any, provenance: dict[str, Any]) -> dict[str, tuple[int, list[tuple[str, str]], bytes]]:
    """url -> (status, headers, body as sent) of every response record the capture wrote."""
    out: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
    path = archive.root / "warc" / provenance["warc_file"]
    if not path.exists():  # the run that made the capture is still writing its WARC
        path = path.with_name(path.name + ".open")
    with open(path, "rb") as fh:
        for place in provenance["records"]:
            if place["record"] != "response" or place["url"] in out:
                continue
            found = record_at(fh, place["offset"])
            if found is None:
                continue
            _, block = parse_member(found[1])
            head, _, body = block.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = [tuple(x.split(": ", 1)) for x in lines[1:] if ": " in x]
            out[place["url"]] = (status, headers, body)  # type: ignore[assignment]
    return out


def _serve(responses: dict[str, tuple[int, list[tuple[str, str]], bytes]], page_url: str, dom: bytes,
           served: list[str], refused: list[str]) -> Any:
    def handle(route: Any) -> None:
        url = route.request.url
        if url == page_url:
            served.append(url)
            route.fulfill(status=200, body=dom, headers={"content-type": "text/html; charset=utf-8"})
            return
        hit = responses.get(url)
        if hit is None:
            refused.append(url)
            route.abort("blockedbyclient")
            return
        status, headers, body = hit
        try:
            body = decode_body(body, content_encodings(headers), MAX_RESOURCE, url)
        except FetchFailed:
            refused.append(url)
            route.abort("blockedbyclient")
            return
        kept = {k.lower(): v for k, v in headers if k.lower() in ("content-type",)}
        served.append(url)
        route.fulfill(status=status, body=body, headers=kept)
    return handle


def make(archive: Any, browser: tuple[Any, str], citation: dict[str, Any], capture_row: dict[str, Any],
         browsed: dict[str, Any]) -> dict[str, Any]:
    """Make the marked screenshot of one citation; return its row (blake3 None and the reason when none)."""
    running, version = browser
    prov = json.loads(archive.store.path(browsed["provenance_blake3"]).read_bytes())
    dom = archive.store.path(capture_row["blake3"]).read_bytes()
    row: dict[str, Any] = {"citation_id": citation["id"], "capture_id": capture_row["id"], "exact": citation["exact"],
                           "blake3": None, "boxes": None, "clip": None, "served": None, "refused": None,
                           "error": None, "tool": version, "made_at": now()}
    try:
        responses = _responses(archive, prov)
    except (OSError, WarcReadError, ValueError, IndexError) as exc:
        row["error"] = f"the capture's WARC records cannot be read ({exc})"
        return row
    served: list[str] = []
    refused: list[str] = []
    opts = prov.get("options", {})
    width = int(opts.get("viewport_width", 1280))
    # Every request is answered by the route below; anything that slipped past it would meet a proxy
    # address where nothing listens (port 9, discard), so the network is never reached.
    context = running.new_context(java_script_enabled=False, service_workers="block",
                                  proxy={"server": "http://127.0.0.1:9", "bypass": "<-loopback>"},
                                  viewport={"width": width, "height": int(opts.get("viewport_height", 900))})
    try:
        page_url = capture_row["final_url"] or capture_row["url"]
        context.route("**/*", _serve(responses, page_url, dom, served, refused))
        page = context.new_page()
        page.goto(page_url, wait_until="load", timeout=30000)
        found = page.evaluate(_FIND, citation["exact"] or "")
        if not found["found"]:
            row["error"] = "the quoted passage is not in the rendered page's text"
            return row
        if found["count"] > 1:
            row["error"] = f"the quoted passage occurs {found['count']} times in the rendered page's text; not boxed"
            return row
        rects = found["rects"]
        if not rects:  # present in the text but drawn nowhere (zero size, display:none): nothing a reader sees
            row["error"] = "the quoted passage has no box in the rendered page (it is not drawn); not boxed"
            return row
        page.evaluate(_DRAW, [rects, BOX])
        top = max(min(r["y"] for r in rects) - CONTEXT_PX, 0)
        bottom = min(max(r["y"] + r["height"] for r in rects) + CONTEXT_PX, top + MAX_HEIGHT)
        clip = {"x": 0, "y": int(top), "width": width, "height": max(int(bottom - int(top)), 1)}
        png = page.screenshot(full_page=True, clip=clip, animations="disabled")
    finally:
        context.close()
    row.update(blake3=store(archive, png, "image/png"), clip=dbm.dumps(clip),
               boxes=dbm.dumps([{k: round(r[k] - (clip["y"] if k == "y" else 0), 1) for k in ("x", "y", "width", "height")}
                                for r in rects]),
               served=dbm.dumps(served), refused=dbm.dumps(refused))
    return row


def due(archive: Any, case_id: str) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(citation, capture, browser capture) for each found citation of the case anchored in a
    browser capture that has no marked screenshot for its passage yet."""
    out = []
    for ci in list(archive.db.query(
            "SELECT ci.* FROM citations ci JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0 "
            "JOIN captures cap ON cap.id = ci.capture_id AND cap.method = 'browser' "
            "WHERE cl.case_id = ? AND ci.match IN ('exact', 'normalized') ORDER BY ci.id", [case_id])):
        if archive.db.execute("SELECT 1 FROM marked_screenshots WHERE citation_id = ? AND capture_id = ? AND exact = ?",
                              [ci["id"], ci["capture_id"], ci["exact"]]).fetchone():
            continue
        cap = next(archive.db.query("SELECT * FROM captures WHERE id = ?", [ci["capture_id"]]))
        browsed = list(archive.db.query("SELECT * FROM browser_captures WHERE capture_id = ? ORDER BY id LIMIT 1",
                                        [ci["capture_id"]]))
        if browsed:
            out.append((ci, cap, browsed[0]))
    return out


def mark_case(archive: Any, case_id: str, launch: Any) -> list[str]:
    """Make the marked screenshots the case lacks; return a note for each that could not be made."""
    todo = due(archive, case_id)
    if not todo:
        return []
    notes = []
    with launch() as browser:
        for ci, cap, browsed in todo:
            row = make(archive, browser, ci, cap, browsed)
            row["id"] = archive.db.execute("SELECT coalesce(max(id), 0) + 1 FROM marked_screenshots").fetchone()[0]
            archive.record("marked_screenshot", "marked_screenshots", str(row["id"]), row)
            if row["error"]:
                notes.append(f"{ci['claim_id']}: citation {ci['n']}: no marked screenshot: {row['error']}")
    return notes
