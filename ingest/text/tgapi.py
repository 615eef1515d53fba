"""The Telegram API post reader: a post archived through the API (Telethon's TL serialization of
a `messages.ChannelMessages` answer, `capture/tgapi`) read into the same post fields the web
preview reader gives, so the post card, anchoring, drift and rebuild from the log treat both
witnesses alike.

The text is the message's own text, exactly as the API gives it; links come from its entities
(`messageEntityTextUrl` with its target, `messageEntityUrl` whose words are the address), their
offsets turned from the API's UTF-16 code units into the text's code points. Views are the
API's exact number; "edited" is the message's `edit_date` (unless Telegram hides the edit), kept
as well. Media are listed by kind (the photo by its id, downloaded by the capture as a post
file). Bytes that are not such an answer, or an answer holding no message, are a failed read
with the reason, never an empty post.
"""

from __future__ import annotations

from typing import Any

from ingest.text.blocks import text_blocks
from ingest.text.extraction import EXTRACTORS, Extraction, failed, text_hash

NAME = "telegram_api"
OPTIONS: dict[str, Any] = {"format": "TL messages.ChannelMessages (Telethon bytes())", "text": "message.message",
                           "links": "entities: messageEntityTextUrl, messageEntityUrl", "offsets": "UTF-16 -> code points"}


def failed_read(reason: str, **metadata: Any) -> Extraction:
    """A failed Extraction as this reader records it."""
    ex = failed("application/octet-stream", reason, **metadata)
    ex.extractor, ex.extractor_version, ex.options = NAME, EXTRACTORS.get(NAME, ""), dict(OPTIONS)
    return ex


def _code_points(text: str) -> list[int]:
    """index[u] = the code point offset of UTF-16 offset u (the API counts entities in UTF-16)."""
    index = []
    for i, ch in enumerate(text):
        index += [i] * (2 if ord(ch) > 0xFFFF else 1)
    index.append(len(text))
    return index


def _links(text: str, entities: list[Any]) -> list[dict[str, Any]]:
    from telethon.tl import types

    at = _code_points(text)
    out = []
    for e in entities or []:
        if not isinstance(e, (types.MessageEntityTextUrl, types.MessageEntityUrl)):
            continue
        start, end = at[min(e.offset, len(at) - 1)], at[min(e.offset + e.length, len(at) - 1)]
        words = text[start:end]
        out.append({"text": words, "href": e.url if isinstance(e, types.MessageEntityTextUrl) else words,
                    "start": start, "end": end})
    return out


def _name(peer: Any, chats: dict[int, Any], users: dict[int, Any]) -> tuple[str | None, str | None]:
    """(display name, username) of a peer the answer describes."""
    from telethon.tl import types

    if isinstance(peer, types.PeerChannel) and peer.channel_id in chats:
        c = chats[peer.channel_id]
        return getattr(c, "title", None), getattr(c, "username", None)
    if isinstance(peer, types.PeerUser) and peer.user_id in users:
        u = users[peer.user_id]
        return " ".join(x for x in (u.first_name, u.last_name) if x) or None, u.username
    return None, None


def _media(message: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    from telethon.tl import types

    media = message.media
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        return [{"kind": "photo", "photo_id": media.photo.id}], None
    if isinstance(media, types.MessageMediaWebPage) and isinstance(media.webpage, types.WebPage):
        w = media.webpage
        return [], {"url": w.url, "site": w.site_name, "title": w.title, "description": w.description}
    if isinstance(media, types.MessageMediaDocument):
        return [{"kind": "document", "document_id": getattr(media.document, "id", None)}], None
    return ([{"kind": type(media).__name__}] if media is not None else []), None


def parse_api_post(data: bytes) -> Extraction:
    """Read the one message of an archived `messages.ChannelMessages` answer."""
    try:
        from telethon.extensions import BinaryReader
        from telethon.tl import types
        from telethon.tl.types import messages as tlmessages
    except ImportError as exc:
        return failed_read(f"the Telegram API reader needs Telethon, which is not installed ({exc}): "
                           "pip install 'khronika[telegram-api]'")
    try:
        answer = BinaryReader(data).tgread_object()
    except Exception as exc:  # noqa: BLE001 - bytes that are not TL: a reason, never a crash
        return failed_read(f"not a TL object Telethon can read ({type(exc).__name__}: {exc})")
    if not isinstance(answer, (tlmessages.ChannelMessages, tlmessages.Messages, tlmessages.MessagesSlice)):
        return failed_read(f"a TL {type(answer).__name__}, not a messages.ChannelMessages answer")
    found = [m for m in answer.messages if isinstance(m, types.Message)]
    if len(found) != 1:
        return failed_read(f"the answer holds {len(found)} messages; the reader reads an answer of one post")
    m = found[0]
    chats = {c.id: c for c in answer.chats}
    users = {u.id: u for u in answer.users}
    title, channel = _name(m.peer_id, chats, users)
    text = m.message or ""
    fwd = m.fwd_from
    forwarded = None
    if fwd is not None:
        name, username = _name(fwd.from_id, chats, users)
        forwarded = {"name": fwd.from_name or name,
                     "url": f"https://t.me/{username}/{fwd.channel_post}" if username and fwd.channel_post else None}
    reply = m.reply_to if isinstance(m.reply_to, types.MessageReplyHeader) else None
    media, preview = _media(m)
    edited = m.edit_date is not None and not m.edit_hide
    post: dict[str, Any] = {
        "channel": channel, "post_id": m.id, "channel_title": title,
        "datetime": m.date.isoformat() if m.date else None, "author": m.post_author, "has_text": bool(text),
        "links": _links(text, m.entities),
        "forwarded_from": forwarded,
        "reply_to": None if reply is None or reply.reply_to_msg_id is None else {
            "url": f"https://t.me/{channel}/{reply.reply_to_msg_id}" if channel else None, "author": None,
            "text": reply.quote_text},
        "views": None if m.views is None else str(m.views), "views_count": m.views, "views_exact": m.views is not None,
        "edited": edited, "edit_date": m.edit_date.isoformat() if m.edit_date else None,
        "link_preview": preview, "media": media, "grouped_id": m.grouped_id,
    }
    return Extraction(
        extractor=NAME, extractor_version=EXTRACTORS.get(NAME, ""), options=dict(OPTIONS), text=text,
        text_blake3=text_hash(text), title=title, author=m.post_author or title, date=post["datetime"],
        sitename="Telegram", metadata={"telegram": post}, blocks=text_blocks(text),
    )
