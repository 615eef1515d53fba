"""Text Fragment links (`#:~:text=`): a URL that makes a browser scroll to and highlight a quote."""

from __future__ import annotations

from urllib.parse import quote as _percent
from urllib.parse import urlsplit

LONG_FRAGMENT = 300  # longer quotes use the textStart,textEnd form in URLs


def _encode(s: str) -> str:
    # The Text Fragments syntax reserves "-", "," and "&"; quote() leaves "-" alone.
    return _percent(" ".join(s.split()), safe="").replace("-", "%2D")


def text_fragment_url(url: str, quote: str, prefix: str | None = None,
                      suffix: str | None = None) -> str | None:
    """Link that makes a browser scroll to and highlight `quote`, or None if it cannot."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    words = quote.split()
    if scheme not in ("http", "https") or not words:
        return None
    n = min(5, len(words) // 2)
    if len(" ".join(words)) > LONG_FRAGMENT and n:
        parts = [_encode(" ".join(words[:n])), _encode(" ".join(words[-n:]))]
    else:
        parts = [_encode(quote)]
    if prefix and prefix.split():
        parts.insert(0, _encode(prefix) + "-")
    if suffix and suffix.split():
        parts.append("-" + _encode(suffix))
    return url.split("#", 1)[0] + "#:~:text=" + ",".join(parts)
