"""Telegram web-preview pages built by the tests from the documented structure of the public
preview (never copied from real pages): the single-post embed page (`/<channel>/<id>?embed=1`),
the channel page positioned at a post (`/s/<channel>/<id>`), and the preview's error page."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape


@dataclass
class Post:
    channel: str
    post_id: int
    text_html: str | None  # the inner HTML of tgme_widget_message_text; None: a post without text
    datetime: str = "2025-05-16T09:30:00+00:00"
    title: str = "Support Group"
    views: str | None = "1.2K"
    author: str | None = None  # the author signature (tgme_widget_message_from_author)
    edited: bool = False
    forwarded_from: tuple[str, str | None] | None = None  # (name, href)
    reply_to: tuple[str, str, str] | None = None  # (href, author, text)
    photos: list[str] = field(default_factory=list)  # background-image URLs
    video_poster: str | None = None
    link_preview: tuple[str, str, str, str] | None = None  # (href, site, title, description)


def message(post: Post, origin: str) -> str:
    """One tgme_widget_message block, as both preview pages hold it."""
    ch, pid = post.channel, post.post_id
    parts = [f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
             f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="{ch}/{pid}" '
             f'data-view="eyJjIjo{pid}">',
             f'<div class="tgme_widget_message_user"><a href="{origin}/{ch}"><i class="tgme_widget_message_user_photo">'
             f'<img src="{origin}/i/userpic/{ch}.jpg"></i></a></div>',
             '<div class="tgme_widget_message_bubble"><i class="tgme_widget_message_bubble_tail"></i>',
             f'<div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" '
             f'href="{origin}/{ch}"><span dir="auto">{escape(post.title)}</span></a></div>']
    if post.forwarded_from:
        name, href = post.forwarded_from
        inner = (f'<a class="tgme_widget_message_forwarded_from_name" href="{href}"><span dir="auto">{escape(name)}</span></a>'
                 if href else f'<span class="tgme_widget_message_forwarded_from_name" dir="auto">{escape(name)}</span>')
        parts.append(f'<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from {inner}</div>')
    if post.reply_to:
        href, who, text = post.reply_to
        parts.append(f'<a class="tgme_widget_message_reply" href="{href}"><div class="tgme_widget_message_author '
                     f'accent_color"><span class="tgme_widget_message_author_name" dir="auto">{escape(who)}</span></div>'
                     f'<div class="tgme_widget_message_metatext js-message_reply_text" dir="auto">{escape(text)}</div></a>')
    if post.photos:
        wraps = "".join(f'<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo" '
                        f'style="left:0px;top:0px;width:300px;margin-top:0px;height:200px;background-image:url(\'{u}\')" '
                        f'href="{origin}/{ch}/{pid + i}?single"><div class="grouped_media_helper"></div></a>'
                        for i, u in enumerate(post.photos))
        parts.append(wraps if len(post.photos) == 1 else
                     f'<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap" data-margin-w="2">'
                     f'<div class="tgme_widget_message_grouped js-message_grouped">{wraps}</div></div>')
    if post.video_poster:
        parts.append(f'<a class="tgme_widget_message_video_player js-message_video_player" href="{origin}/{ch}/{pid}">'
                     f'<i class="tgme_widget_message_video_thumb" style="background-image:url(\'{post.video_poster}\')"></i>'
                     f'<div class="tgme_widget_message_video_wrap"><video class="tgme_widget_message_video js-message_video" '
                     f'width="100%" height="100%"></video></div><time class="message_video_duration">0:42</time></a>')
    if post.text_html is not None:
        parts.append(f'<div class="tgme_widget_message_text js-message_text" dir="auto">{post.text_html}</div>')
    if post.link_preview:
        href, site, title, desc = post.link_preview
        parts.append(f'<a class="tgme_widget_message_link_preview" href="{href}">'
                     f'<div class="link_preview_site_name accent_color" dir="auto">{escape(site)}</div>'
                     f'<div class="link_preview_title" dir="auto">{escape(title)}</div>'
                     f'<div class="link_preview_description" dir="auto">{escape(desc)}</div></a>')
    info = ['<div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info short js-message_info">']
    if post.views is not None:
        info.append(f'<span class="tgme_widget_message_views">{post.views}</span><span class="copyonly"> views</span>')
    if post.author:
        info.append(f'<span class="tgme_widget_message_from_author" dir="auto">{escape(post.author)}</span>')
    info.append(f'<span class="tgme_widget_message_meta">{"edited " if post.edited else ""}'
                f'<a class="tgme_widget_message_date" href="{origin}/{ch}/{pid}"><time datetime="{post.datetime}" '
                f'class="time">09:30</time></a></span></div></div>')
    parts.append("".join(info))
    parts.append("</div></div></div>")
    return "".join(parts)


def _page(title: str, body_class: str, inner: str) -> bytes:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta property="og:title" content="{escape(title)}">'
            f'<link rel="stylesheet" href="/css/widget-frame.css"></head>'
            f'<body class="{body_class}"><div class="tgme_widget_message_wrap">{inner}</div>'
            f'<script src="/js/widget-frame.js"></script></body></html>').encode("utf-8")


def embed_page(post: Post, origin: str) -> bytes:
    """The single-post embed page `/<channel>/<id>?embed=1&mode=tme`."""
    return _page("Telegram Widget", "widget_frame_base tgme_widget body_widget_post emoji_image nodark",
                 message(post, origin))


def channel_page(posts: list[Post], origin: str) -> bytes:
    """The channel page `/s/<channel>/<id>`: several posts, the one asked for among them."""
    ch = posts[0].channel
    header = (f'<header class="tgme_header"><div class="tgme_header_title"><span dir="auto">{escape(posts[0].title)}'
              f'</span></div><a class="tgme_header_link" href="{origin}/{ch}">@{ch}</a></header>')
    body = "".join(message(p, origin) for p in posts)
    return _page(f"{posts[0].title} – Telegram", "widget_frame_base tgme_page",
                 header + f'<section class="tgme_channel_history js-message_history">{body}</section>')


def error_page(reason: str) -> bytes:
    """The embed page when there is no post to show: Telegram's reason in tgme_widget_message_error."""
    return _page("Telegram Widget", "widget_frame_base tgme_widget body_widget_post nodark",
                 f'<div class="tgme_widget_message_error">{escape(reason)}</div>')
