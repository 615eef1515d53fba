"""The Memento protocol (RFC 7089) as a witness uses it: an archive's TimeMap, the mementos closest to a
time, and one memento fetched raw and checked to be what it claims (a copy of the cited page).

Every request goes through capture/fetch, with the same address policy, size limits and timeouts
as a capture. Nothing here records anything: checks/witness keeps what came back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from ingest.capture import linkformat
from ingest.capture.exchange import header
from ingest.capture.hops import Hop
from ingest.errors import FetchFailed

if TYPE_CHECKING:
    from ingest.capture.fetch import FetchConfig, FetchResult

MAX_TIMEMAP = 16 * 2**20  # bytes of one TimeMap as received
MAX_MEMENTOS = linkformat.MAX_LINKS
NO_MEMENTO, UNREACHABLE = "no_memento", "unreachable"
# What became of one memento fetched: a copy of the cited page, or why it is not one.
CAPTURED, NOT_A_MEMENTO, ELSEWHERE = "captured", "not_a_memento", "elsewhere"
# A Wayback-style memento URL: .../<14-digit time><modifier>/<original URL>
_WAYBACK = re.compile(r"/(\d{14})(?:[a-z]{2}_)?/(?=[A-Za-z][A-Za-z0-9+.-]*:)")


@dataclass(frozen=True)
class ArchiveSpec:
    """A Memento-capable web archive: its TimeMap address ({url} is the page's URL as written),
    the raw-replay modifier it supports (`id_` for Wayback-style archives, else none: the copy is
    fetched as the archive presents it) and, optionally, its Save Page Now style address."""

    name: str
    timemap: str
    raw: str | None = None
    submit: str | None = None
    timegate: str | None = None  # asked with Accept-Datetime when the TimeMap is too large to read

    def timemap_url(self, url: str) -> str:
        return self.timemap.replace("{url}", url)


DEFAULT_ARCHIVES = (
    ArchiveSpec("Internet Archive", "https://web.archive.org/web/timemap/link/{url}", "id_",
                "https://web.archive.org/save/{url}", "https://web.archive.org/web/{url}"),
    ArchiveSpec("archive.today", "https://archive.today/timemap/{url}", None, None, "https://archive.today/timegate/{url}"),
)


def wayback(base: str) -> ArchiveSpec:
    """A Wayback-style archive (the Internet Archive, pywb) from its collection's base URL."""
    base = base if base.endswith("/") else base + "/"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--memento-archive {base!r}: not an http(s) URL")
    return ArchiveSpec(parts.netloc + parts.path.rstrip("/"), base + "timemap/link/{url}", "id_", base + "save/{url}",
                       base + "{url}")


@dataclass(frozen=True)
class Memento:
    url: str
    datetime: dt.datetime  # aware, UTC

    @property
    def at(self) -> str:
        return iso(self.datetime)


@dataclass
class TimeMap:
    url: str
    mementos: list[Memento]  # sorted by datetime
    hops: list[Hop]
    fetched_at: str
    status: int
    via: str | None = None  # why the TimeGate was asked instead of reading the TimeMap


class LookupFailed(Exception):
    """The archive gave no usable TimeMap: outcome no_memento or unreachable, with the reason and the hops."""

    def __init__(self, outcome: str, reason: str, hops: list[Hop] | None = None) -> None:
        super().__init__(reason)
        self.outcome, self.reason, self.hops = outcome, reason, hops or []


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(text: str) -> dt.datetime:
    """An RFC 7231 IMF-fixdate ("Sun, 20 Apr 2025 10:00:00 GMT"), as Memento requires; ValueError otherwise."""
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{text[:60]!r} is not an HTTP date") from None
    if when is None or when.tzinfo is None or not text.strip().endswith("GMT"):
        raise ValueError(f"{text[:60]!r} is not an HTTP date in GMT")
    return when.astimezone(dt.UTC)


def parse_timemap(data: bytes, base: str, max_mementos: int = MAX_MEMENTOS) -> list[Memento]:
    """The mementos a TimeMap lists, oldest first; LinkFormatError (saying where) when it is malformed."""
    out = []
    for n, link in enumerate(linkformat.parse(data, max_links=max_mementos), 1):
        if "memento" not in link.rels:
            continue
        stamp = link.param("datetime")
        if stamp is None:
            raise linkformat.LinkFormatError(f"link {n} ({link.target[:80]}) is a memento without a datetime")
        try:
            when = http_date(stamp)
        except ValueError as exc:
            raise linkformat.LinkFormatError(f"link {n} ({link.target[:80]}): datetime {exc}") from None
        url = urljoin(base, link.target)
        if urlsplit(url).scheme not in ("http", "https"):
            raise linkformat.LinkFormatError(f"link {n}: memento {url[:80]!r} is not an http(s) URL")
        out.append(Memento(url, when))
    return sorted(out, key=lambda m: (m.datetime, m.url))


def closest(mementos: list[Memento], at: dt.datetime) -> tuple[Memento | None, Memento | None]:
    """The last memento at or before `at`, and the first after it."""
    before = [m for m in mementos if m.datetime <= at]
    after = [m for m in mementos if m.datetime > at]
    return (before[-1] if before else None), (after[0] if after else None)


def lookup(spec: ArchiveSpec, url: str, config: FetchConfig, max_bytes: int = MAX_TIMEMAP,
           max_mementos: int = MAX_MEMENTOS, at: dt.datetime | None = None) -> TimeMap:
    """Fetch and read the archive's TimeMap for `url`; LookupFailed when there is none to read. A
    TimeMap over the limits is not read; the archive's TimeGate is asked instead, for `at`."""
    from ingest.capture.fetch import fetch

    where = spec.timemap_url(url)
    limited = dataclasses.replace(config, limits=dataclasses.replace(config.limits, max_body=max_bytes))
    try:
        result = fetch(where, limited)
    except FetchFailed as exc:
        if exc.outcome == "gone":
            raise LookupFailed(NO_MEMENTO, f"{spec.name} holds no copy ({exc.reason})", exc.hops) from None
        reason = f"{spec.name} TimeMap: " + exc.reason.replace("(limit --max-body)", "(limit --max-timemap)")
        if spec.timegate and at is not None and "(limit --max-body)" in exc.reason:
            return timegate(spec, url, at, config, reason, exc.hops)
        raise LookupFailed(UNREACHABLE, reason, exc.hops) from None
    try:
        mementos = parse_timemap(result.body, result.final_url, max_mementos)
    except linkformat.LinkFormatError as exc:
        raise LookupFailed(UNREACHABLE, f"{spec.name} TimeMap at {where} is malformed: {exc}", result.hops) from None
    if not mementos:
        raise LookupFailed(NO_MEMENTO, f"{spec.name} holds no copy (its TimeMap lists no memento)", result.hops)
    return TimeMap(where, mementos, result.hops, result.fetched_at, result.status)


def timegate(spec: ArchiveSpec, url: str, at: dt.datetime, config: FetchConfig, why: str,
             earlier: list[Hop]) -> TimeMap:
    """The mementos an archive's TimeGate names for `at` (RFC 7089 section 4): the one it selects
    and its Link header's first, prev, next and last mementos. The TimeGate's redirect is read,
    not followed."""
    from ingest.capture.fetch import fetch

    assert spec.timegate is not None
    where = spec.timegate.replace("{url}", url)
    stop = "TimeGate answer read"
    asked = dataclasses.replace(config, headers={**config.headers, "Accept-Datetime": email.utils.format_datetime(
        at.astimezone(dt.UTC), usegmt=True)}, redirect_guard=lambda source, target: stop)
    try:
        result = fetch(where, asked)
        hops = result.hops
    except FetchFailed as exc:
        hops = exc.hops
        if not (exc.reason.startswith(stop) and hops):
            outcome = NO_MEMENTO if exc.outcome == "gone" else UNREACHABLE
            raise LookupFailed(outcome, f"{why}; its TimeGate: {exc.reason}", earlier + hops) from None
    answer = hops[-1]
    links = header(answer.response_headers, "link") or ""
    try:
        mementos = parse_timemap(links.encode("utf-8", "replace"), answer.url, max_mementos=1000)
    except linkformat.LinkFormatError as exc:
        raise LookupFailed(UNREACHABLE, f"{why}; its TimeGate's Link header is malformed: {exc}", earlier + hops) from None
    if not mementos:
        raise LookupFailed(UNREACHABLE, f"{why}; its TimeGate at {where} named no memento (HTTP {answer.status})",
                           earlier + hops)
    return TimeMap(where, mementos, earlier + hops, answer.started_at, answer.status, via=why)


def raw_url(spec: ArchiveSpec, memento_url: str) -> str:
    """The memento's raw replay address (`id_`: the archived bytes, no banner, no rewriting) where
    the archive offers one; else the memento's own address."""
    if not spec.raw:
        return memento_url
    return _WAYBACK.sub(lambda m: f"/{m.group(1)}{spec.raw}/", memento_url, count=1)


def is_memento_url(url: str) -> bool:
    """Whether `url` is written as a Wayback-style memento address (<14-digit time>/<original URL>)."""
    return _WAYBACK.search(url) is not None


def resource_key(url: str) -> tuple[str, str, str]:
    """What makes two URLs the same page for a witness: host (lower-case, default port dropped),
    path ("/" when empty) and query; http and https count as one, the fragment never counts."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ("", url, "")
    host = (parts.hostname or "").lower()
    if port and port not in (80, 443):
        host += f":{port}"
    return host, parts.path or "/", parts.query


def original_of(hop: Hop) -> str | None:
    """The original resource a memento response names: its Link rel="original", else the
    original URL written in a Wayback-style memento address."""
    value = header(hop.response_headers, "link")
    if value:
        try:
            for link in linkformat.parse(value, max_links=1000):
                if "original" in link.rels:
                    return link.target
        except linkformat.LinkFormatError:
            pass
    m = _WAYBACK.search(hop.url)
    return hop.url[m.end():] if m else None


@dataclass
class MementoFetch:
    outcome: str  # captured | not_a_memento | elsewhere | unreachable | gone | refused | failed
    reason: str | None
    fetched_url: str
    hops: list[Hop]
    result: FetchResult | None = None
    memento_datetime: str | None = None
    original: str | None = None


def fetch_memento(spec: ArchiveSpec, memento: Memento, cited: set[str], config: FetchConfig) -> MementoFetch:
    """Fetch one memento raw and check it: a response carrying Memento-Datetime (an archive's own
    error page served with 200 carries none), of one of the `cited` URLs, with no redirect out
    of the archive. Only `captured` is a copy that may count as a witness."""
    from ingest.capture.fetch import fetch

    where = raw_url(spec, memento.url)
    home = urlsplit(where).netloc.lower()

    def guard(source: str, target: str) -> str | None:
        if urlsplit(target).netloc.lower() != home:
            return f"the memento redirects out of the archive, to {target[:200]}"
        return None

    try:
        result = fetch(where, dataclasses.replace(config, redirect_guard=guard))
    except FetchFailed as exc:
        outcome = ELSEWHERE if "out of the archive" in exc.reason else exc.outcome
        return MementoFetch(outcome, exc.reason, where, exc.hops)
    final = result.hops[-1]
    stamp = header(final.response_headers, "memento-datetime")
    if stamp is None:
        return MementoFetch(NOT_A_MEMENTO, f"{result.final_url} answered HTTP {result.status} without "
                            "Memento-Datetime: the archive's own page, not an archived copy", where, result.hops)
    try:
        when = iso(http_date(stamp))
    except ValueError as exc:
        return MementoFetch(NOT_A_MEMENTO, f"{result.final_url}: Memento-Datetime {exc}", where, result.hops)
    original = original_of(final)
    keys = {resource_key(u) for u in cited}
    if original is None or resource_key(original) not in keys:
        named = f"a copy of {original[:200]}" if original else "a copy of no named page"
        return MementoFetch(ELSEWHERE, f"{result.final_url} is {named}, not of {sorted(cited)[0][:200]}",
                            where, result.hops, result, when, original)
    return MementoFetch(CAPTURED, None, where, result.hops, result, when, original)
