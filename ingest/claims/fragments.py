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
    directive = text_directive(quote, prefix, suffix)
    if scheme not in ("http", "https") or directive is None:
        return None
    return url.split("#", 1)[0] + "#" + directive


def context_words(prefix: str | None, suffix: str | None, n: int = 3,
                  kept: int = 32) -> tuple[str | None, str | None]:
    """The last `n` whole words of the text before a quote and the first `n` after it, for a
    fragment's prefix- and -suffix. A selector keeps `kept` characters either side (claims/anchor's
    CONTEXT), so one that long may begin or end inside a word: that word is left out; a shorter one
    reaches the start or end of the text."""
    before = (prefix or "").split()
    after = (suffix or "").split()
    cut_before = len(prefix or "") >= kept and not (prefix or " ")[0].isspace()
    cut_after = len(suffix or "") >= kept and not (suffix or " ")[-1].isspace()
    before = before[-n:] if len(before) > n else before[1:] if cut_before else before
    after = after[:n] if len(after) > n else after[:-1] if cut_after else after
    return (" ".join(before) or None, " ".join(after) or None)


def text_directive(quote: str, prefix: str | None = None, suffix: str | None = None) -> str | None:
    """`:~:text=[prefix-,]start[,end][,-suffix]` for `quote`, or None for an empty quote."""
    words = quote.split()
    if not words:
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
    return ":~:text=" + ",".join(parts)
