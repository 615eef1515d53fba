"""Telegram posts: which URLs name a public channel's post, which preview pages show it, and
whether the preview shows it at all.

`https://t.me/<channel>/<id>` and `https://t.me/s/<channel>/<id>` (also telegram.me, any port)
name one post. Its capture is the single-post embed page (`/<channel>/<id>?embed=1&mode=tme`),
fetched as an ordinary HTTP capture; `capture/posts` adds the channel page positioned at the
post (`/s/<channel>/<id>`) and the post's media. A preview that shows no post (removed, a
private or restricted channel: Telegram's `tgme_widget_message_error` says which) is never
kept as a capture: it is an attempt with Telegram's words as the reason, its exchange kept in
the WARC. `t.me/c/...` links name a private chat's post, which has no public preview.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingest.errors import FetchFailed

if TYPE_CHECKING:
    from ingest.capture.fetch import FetchConfig, FetchResult

HOSTS = frozenset({"t.me", "telegram.me", "www.t.me", "www.telegram.me"})
# Channel usernames: a letter, then letters, digits and underscores (Telegram asks for 5 to 32;
# a few old channels are shorter).
CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,31}")
_RESERVED = frozenset({"s", "c", "joinchat", "addstickers", "addemoji", "share", "proxy", "socks", "iv",
                       "login", "setlanguage", "addlist", "boost", "confirmphone", "invoice", "contact"})
_ERROR = re.compile(rb'class="[^"]*\btgme_widget_message_error\b[^"]*"[^>]*>(.{0,2000}?)</div>', re.S)
_TAGS = re.compile(r"<[^>]{0,500}>")
MAX_RANGE = 1000  # posts in one `telegram:` source family


@dataclass(frozen=True)
class PostRef:
    origin: str  # scheme://host[:port], as the source's URL gives it
    channel: str
    post_id: int

    @property
    def key(self) -> str:
        return f"{self.channel}/{self.post_id}"

    @property
    def url(self) -> str:
        return f"{self.origin}/{self.channel}/{self.post_id}"

    @property
    def embed_url(self) -> str:
        return f"{self.url}?embed=1&mode=tme"

    @property
    def channel_url(self) -> str:
        return f"{self.origin}/s/{self.channel}/{self.post_id}"


def _parts(url: str) -> tuple[str, list[str]] | None:
    try:
        split = urlsplit(url)
        host = (split.hostname or "").lower()
        split.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    if split.scheme not in ("http", "https") or host not in HOSTS or split.username or split.password:
        return None
    return f"{split.scheme}://{split.netloc.lower()}", [p for p in split.path.split("/") if p]


def post_ref(url: str | None) -> PostRef | None:
    """The post a URL names, or None when it names no public channel's post."""
    parts = _parts(url) if url else None
    if parts is None:
        return None
    origin, path = parts
    if len(path) == 3 and path[0] == "s":
        path = path[1:]
    if len(path) != 2 or path[0].lower() in _RESERVED or not CHANNEL.fullmatch(path[0]) or not path[1].isdigit():
        return None
    post_id = int(path[1])
    return PostRef(origin, path[0], post_id) if 0 < post_id < 2**31 else None


def private_link(url: str | None) -> str | None:
    """Why a t.me/c/<chat>/<id> link cannot be captured from a public preview, or None."""
    parts = _parts(url) if url else None
    if parts is None or len(parts[1]) < 3 or parts[1][0] != "c" or not parts[1][1].isdigit():
        return None
    return (f"{url} names a post of a private channel or group (t.me/c/...): Telegram has no public preview of it; "
            "the Telegram API mode (run --telegram-api) reads public channels by their username only")


def unavailable(body: bytes, ref: PostRef) -> str | None:
    """Why the embed page shows no post `ref`, in Telegram's words when it gives them; None if it shows it."""
    wanted = re.compile(rb'data-post="' + re.escape(ref.key.encode()) + rb'"', re.I)
    if wanted.search(body):
        return None
    m = _ERROR.search(body)
    if m:
        said = " ".join(html.unescape(_TAGS.sub(" ", m[1].decode("utf-8", "replace"))).split())[:300]
        return f"Telegram's preview shows no post {ref.key}: \u201c{said}\u201d"
    return f"the preview page holds no post {ref.key} (no tgme_widget_message with data-post=\"{ref.key}\")"


def fetch_source(url: str, config: FetchConfig) -> FetchResult:
    """Fetch a URL source: a Telegram post's embed page (checked to show the post), else the URL itself.

    Raises FetchFailed: `refused` for a private chat's link, `gone` when Telegram says the post
    is not there (removed, private or restricted channel), `failed` when the page shows no post
    and says nothing; the hops of the fetch stay with the failure, for the WARC.
    """
    from ingest.capture.fetch import fetch

    reason = private_link(url)
    if reason:
        raise FetchFailed("refused", reason)
    ref = post_ref(url)
    if ref is None:
        return fetch(url, config)
    result = fetch(ref.embed_url, config)
    reason = unavailable(result.body, ref)
    if reason is not None:
        outcome = "gone" if reason.startswith("Telegram's") else "failed"
        raise FetchFailed(outcome, f"{reason} at {result.final_url}", result.hops)
    return result


def range_urls(channel: str, first: int, last: int, origin: str = "https://t.me") -> list[tuple[int, str]]:
    """(id, URL) of every post of a `telegram: {channel, from, to}` family, in order."""
    return [(n, f"{origin.rstrip('/')}/{channel}/{n}") for n in range(first, last + 1)]
