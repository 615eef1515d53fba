"""The Telegram post reader: one post of a web-preview page, its text apart from the page chrome.

The page is decoded as browsers decode it (`text.charset`) and parsed with lxml. The post is
the `tgme_widget_message` block whose `data-post` is `<channel>/<id>`; its text is the
`tgme_widget_message_text` element alone (`<br>` a line break, links kept as their words with
their targets listed), so a quote anchors in what the channel wrote, never in the preview's
chrome ("View in Telegram", the channel's name, the counters). Everything else the preview
shows of the post is kept in `metadata["telegram"]`: channel and title, id, the `datetime` of
the post, author signature, forwarded-from, reply-to, views (as shown and as a number), the
"edited" marker, the link preview, and the media (photo, video poster and preview image URLs,
in page order), which `capture/telegram` fetches and archives as files of their own.
"""

from __future__ import annotations

import re
from typing import Any

from ingest.text.blocks import text_blocks
from ingest.text.charset import decode_html
from ingest.text.extraction import EXTRACTORS, Extraction, failed, pinned_options, text_hash

NAME = "telegram"
_BG_URL = re.compile(r"""background-image\s*:\s*url\(\s*['"]?([^'")]+)['"]?\s*\)""", re.I)
_VIEWS = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([KkMm]?)\s*$")
_BLOCK_TAGS = frozenset({"blockquote", "pre", "div", "p"})


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def _first(node: Any, cls: str) -> Any:
    found = node.xpath(f".//*[{_has_class(cls)}]")
    return found[0] if found else None


def _text_of(node: Any) -> str | None:
    return " ".join(node.text_content().split()) if node is not None else None


def _post_text(node: Any) -> tuple[str, list[dict[str, Any]]]:
    """The text of a tgme_widget_message_text element and its links ([start, end) offsets)."""
    out: list[str] = []
    links: list[dict[str, Any]] = []
    length = 0

    def put(s: str | None) -> None:
        nonlocal length
        if s:
            out.append(s)
            length += len(s)

    def newline() -> None:
        if out and not out[-1].endswith("\n"):
            put("\n")

    def walk(el: Any) -> None:
        if not isinstance(el.tag, str):  # a comment or processing instruction: not the post's words
            return
        tag = el.tag
        if tag == "br":
            put("\n")
        elif tag in ("script", "style"):
            pass
        else:
            block = tag in _BLOCK_TAGS
            if block:
                newline()
            start = length
            put(el.text)
            for child in el:
                walk(child)
                put(child.tail)
            if tag == "a" and el.get("href"):
                links.append({"text": "", "href": el.get("href"), "start": start, "end": length})
            if block:
                newline()

    put(node.text)
    for child in node:
        walk(child)
        put(child.tail)
    text = "".join(out)
    # Outer whitespace is layout: trimmed, and the link offsets moved with it.
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    for link in links:
        link["start"] = max(link["start"] - lead, 0)
        link["end"] = min(link["end"] - lead, len(text))
        link["text"] = text[link["start"]:link["end"]]
    return text, links


def views_count(shown: str | None) -> tuple[int | None, bool]:
    """'987' -> (987, exact); '1.2K' -> (1200, rounded); what Telegram rounds is never made exact."""
    m = _VIEWS.match(shown or "")
    if not m:
        return None, False
    number, unit = float(m[1].replace(",", ".")), m[2].upper()
    scale = {"": 1, "K": 1000, "M": 1_000_000}[unit]
    return int(round(number * scale)), unit == "" and "." not in m[1] and "," not in m[1]


def _media(msg: Any) -> list[dict[str, str]]:
    media: list[dict[str, str]] = []
    kinds = (("tgme_widget_message_photo_wrap", "photo"), ("tgme_widget_message_video_thumb", "video_poster"),
             ("link_preview_image", "link_preview_image"), ("link_preview_right_image", "link_preview_image"))
    for el in msg.iter():
        classes = set((el.get("class") or "").split()) if isinstance(el.tag, str) else set()
        for cls, kind in kinds:
            if cls in classes:
                m = _BG_URL.search(el.get("style") or "")
                if m:
                    media.append({"kind": kind, "url": m[1].strip()})
    return media


def parse_post(data: bytes, charset: str | None = None) -> Extraction:
    """Read the one post of a Telegram preview page; an Extraction whose text is the post's text."""
    import lxml.html

    html, used, source = decode_html(data, charset)
    parser = lxml.html.HTMLParser()
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except Exception as exc:  # lxml refuses empty and broken documents in several ways
        return failed_read(f"not a Telegram preview page ({type(exc).__name__}: {exc})")
    # Past its depth limit libxml2 drops the rest of the document without raising: the post's
    # words may be missing, and a text that is not all there is never given as the post's.
    limits = [e.message for e in parser.error_log if e.type_name == "ERR_RESOURCE_LIMIT"]
    if limits:
        return failed_read(f"the page is beyond the HTML parser's limits ({limits[0]}): its text cannot be read in full")
    error = _first(root, "tgme_widget_message_error")
    messages = root.xpath(f"//*[{_has_class('tgme_widget_message')} and @data-post]")
    if not messages:
        reason = _text_of(error) if error is not None else None
        return failed_read(f"the preview shows no post: \u201c{reason}\u201d" if reason else
                       "the preview holds no tgme_widget_message block with a data-post")
    if len(messages) > 1:
        posts = ", ".join(m.get("data-post") for m in messages[:5])
        return failed_read(f"the page holds {len(messages)} posts ({posts}); the post reader reads a single-post embed page")
    msg = messages[0]
    channel, _, pid = msg.get("data-post").partition("/")
    body = _first(msg, "tgme_widget_message_text")
    text, links = _post_text(body) if body is not None else ("", [])
    date = _first(msg, "tgme_widget_message_date")
    times = date.xpath(".//time[@datetime]") if date is not None else []
    meta = _first(msg, "tgme_widget_message_meta")
    shown = _text_of(_first(msg, "tgme_widget_message_views"))
    count, exact = views_count(shown)
    forwarded = _first(msg, "tgme_widget_message_forwarded_from_name")
    reply = _first(msg, "tgme_widget_message_reply")
    preview = _first(msg, "tgme_widget_message_link_preview")
    post: dict[str, Any] = {
        "channel": channel,
        "post_id": int(pid) if pid.isdigit() else None,
        "channel_title": _text_of(_first(msg, "tgme_widget_message_owner_name")),
        "datetime": times[0].get("datetime") if times else None,
        "author": _text_of(_first(msg, "tgme_widget_message_from_author")),
        "has_text": body is not None,
        "links": links,
        "forwarded_from": None if forwarded is None else {"name": _text_of(forwarded), "url": forwarded.get("href")},
        "reply_to": None if reply is None else {
            "url": reply.get("href"), "author": _text_of(_first(reply, "tgme_widget_message_author_name")),
            "text": _text_of(_first(reply, "tgme_widget_message_metatext"))},
        "views": shown,
        "views_count": count,
        "views_exact": exact,
        "edited": meta is not None and "edited" in (meta.text_content() or "").lower().split(),
        "link_preview": None if preview is None else {
            "url": preview.get("href"), "site": _text_of(_first(preview, "link_preview_site_name")),
            "title": _text_of(_first(preview, "link_preview_title")),
            "description": _text_of(_first(preview, "link_preview_description"))},
        "media": _media(msg),
    }
    return Extraction(
        extractor=NAME, extractor_version=EXTRACTORS[NAME], options=pinned_options(NAME),
        text=text, text_blake3=text_hash(text), title=post["channel_title"],
        author=post["author"] or post["channel_title"], date=post["datetime"], sitename="Telegram",
        charset=used, charset_source=source, metadata={"telegram": post}, blocks=text_blocks(text),
    )


def failed_read(reason: str, **metadata: Any) -> Extraction:
    """A failed Extraction as the post reader records it."""
    ex = failed("text/html", reason, **metadata)
    ex.extractor, ex.extractor_version, ex.options = NAME, EXTRACTORS[NAME], pinned_options(NAME)
    return ex
