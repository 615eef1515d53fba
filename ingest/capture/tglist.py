"""Listing a public channel's posts between two ids or dates, from its web preview's channel pages.

The preview's channel page `/s/<channel>` shows the newest posts; `/s/<channel>?before=<id>` the
ones before that id. Pages are read newest first, each through the same fetch, address policy and
limits as a capture, until a post older than the lower bound is reached, the channel has no older
posts, or `max_pages` pages were read (then the list says it is incomplete). A post is
`<div class="tgme_widget_message" data-post="<channel>/<id>">` with its `time[datetime]`; dates are
compared as UTC days, both bounds included. The pages are parsed with lxml in this process (they
are not evidence and are not archived: a listing only proposes a channel range for a case file,
whose posts `run` then captures one by one).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.errors import KhronikaError

if TYPE_CHECKING:
    from ingest.capture.fetch import FetchConfig

MAX_PAGES = 100  # channel pages of about 20 posts each: more than a range may hold (capture/telegram.MAX_RANGE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ListingError(KhronikaError):
    """The channel's posts cannot be listed: a bad bound, or a preview that shows no posts."""


@dataclass(frozen=True)
class Bound:
    post_id: int | None = None
    day: dt.date | None = None

    def __str__(self) -> str:
        return str(self.post_id) if self.post_id is not None else str(self.day)


def bound(value: str, what: str) -> Bound:
    """A post id (digits) or a UTC day (YYYY-MM-DD)."""
    text = value.strip()
    if text.isdigit() and 0 < int(text) < 2**31:
        return Bound(post_id=int(text))
    if _DATE.match(text):
        try:
            return Bound(day=dt.date.fromisoformat(text))
        except ValueError:
            pass
    raise ListingError(f'{what} "{value}" is neither a post id nor a date (YYYY-MM-DD)')


@dataclass(frozen=True)
class Listed:
    post_id: int
    posted_at: str | None  # the preview's datetime, as written
    text: str  # the post's first words

    @property
    def day(self) -> dt.date | None:
        if not self.posted_at:
            return None
        try:
            when = dt.datetime.fromisoformat(self.posted_at)
        except ValueError:
            return None
        return (when.astimezone(dt.timezone.utc) if when.tzinfo else when).date()


@dataclass
class Listing:
    channel: str
    posts: list[Listed] = field(default_factory=list)  # within the bounds, oldest first
    pages: list[str] = field(default_factory=list)  # the URLs read
    incomplete: str | None = None  # why older posts may be missing


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def page_posts(data: bytes, channel: str) -> list[Listed]:
    """The posts of one channel page, as the page orders them."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(data)
    except Exception:  # noqa: BLE001 - an empty or broken page holds no posts
        return []
    out = []
    for msg in root.xpath(f"//*[{_has_class('tgme_widget_message')} and @data-post]"):
        name, _, pid = msg.get("data-post").partition("/")
        if name.lower() != channel.lower() or not pid.isdigit():
            continue
        times = msg.xpath(f".//*[{_has_class('tgme_widget_message_date')}]//time[@datetime]")
        body = msg.xpath(f".//*[{_has_class('tgme_widget_message_text')}]")
        words = " ".join(body[0].text_content().split()) if body else ""
        out.append(Listed(int(pid), times[0].get("datetime") if times else None,
                          words if len(words) <= 80 else words[:79] + "\u2026"))
    return out


def _within(post: Listed, first: Bound, last: Bound) -> bool:
    for b, low in ((first, True), (last, False)):
        if b.post_id is not None and (post.post_id < b.post_id if low else post.post_id > b.post_id):
            return False
        if b.day is not None:
            day = post.day
            if day is None or (day < b.day if low else day > b.day):
                return False
    return True


def _older_than(post: Listed, first: Bound) -> bool:
    if first.post_id is not None:
        return post.post_id <= first.post_id
    day = post.day
    return day is not None and first.day is not None and day < first.day


def list_posts(channel: str, first: Bound, last: Bound, config: FetchConfig, origin: str = "https://t.me",
               max_pages: int = MAX_PAGES) -> Listing:
    """The channel's posts between `first` and `last`, read from its preview pages. Raises
    FetchFailed (capture/fetch) for a page that cannot be fetched, ListingError when the first
    page shows no posts."""
    from ingest.capture.fetch import fetch

    listing = Listing(channel)
    found: dict[int, Listed] = {}
    base = f"{origin.rstrip('/')}/s/{channel}"
    url = f"{base}?before={last.post_id + 1}" if last.post_id is not None else base
    lowest: int | None = None
    while True:
        if len(listing.pages) == max_pages:
            listing.incomplete = f"stopped after {max_pages} preview pages; older posts were not read"
            break
        result = fetch(url, config)
        listing.pages.append(url)
        posts = page_posts(result.body, channel)
        if not posts:
            if lowest is None:
                raise ListingError(f"the preview page {url} shows no posts of {channel} (its web preview may be "
                                   f"disabled, or the channel private or empty; reached {result.final_url})")
            break  # the channel's oldest post was on the page before
        for post in posts:
            if _within(post, first, last):
                found[post.post_id] = post
        oldest = min(p.post_id for p in posts)
        if (lowest is not None and oldest >= lowest) or any(_older_than(p, first) for p in posts) or oldest <= 1:
            break  # no progress (a page that repeats itself), or the lower bound is reached
        lowest = oldest
        url = f"{base}?before={oldest}"
    listing.posts = [found[k] for k in sorted(found)]
    return listing
