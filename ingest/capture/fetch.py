"""Fetching one URL safely and recording every HTTP exchange of that fetch.

This module owns the fetch loop of a capture: URL checks, manual redirect
handling and the deadline. One request/response under the size limits is
`exchange`, address policy and the guarded network backend are in `policy`,
Content-Encoding removal under a decoded-size limit in `decode`, media-type
sniffing in `media`.
It returns the exchanges (hops) exactly as they happened so that a WARC writer
can record them; it never returns a truncated body -- any limit raises
FetchFailed instead.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import certifi
import httpx

from ingest import __version__
from ingest.capture.decode import content_encodings, decode_body, parse_content_type
from ingest.capture.exchange import (
    Hop,
    Limits,
    check_complete_status,
    completeness,
    exchange,
    header,
    now,
)
from ingest.capture.hops import mask_userinfo
from ingest.capture.media import sniff_media_type
from ingest.capture.backend import Deadline, GuardedBackend, install_backend
from ingest.capture.policy import (
    AddressRefused,
    ResolveFailed,
    check_address,
    is_ip_literal,
    resolve_allowed,
)
from ingest.errors import FetchFailed

__all__ = [
    "Limits",
    "FetchConfig",
    "Hop",
    "FetchResult",
    "fetch",
    "sniff_media_type",
    "check_address",
    "resolve_allowed",
    "AddressRefused",
    "ResolveFailed",
    "mask_userinfo",
]

TOOL = f"khronika/{__version__} httpx/{httpx.__version__}"

ACCEPT_ENCODING = "gzip, deflate, br"


# --------------------------------------------------------------------------
# Configuration and results
# --------------------------------------------------------------------------


@dataclass
class FetchConfig:
    limits: Limits = field(default_factory=Limits)
    user_agent: str = f"Khronika/{__version__} (+archive)"
    proxy: str | None = None  # http://, https://, socks5://, socks5h://
    allow_private: bool = False  # or env KHRONIKA_ALLOW_PRIVATE=1
    ca_file: str | None = None  # extra trust anchors (PEM), added to the certifi bundle
    # curl's --resolve: (host, port) -> addresses connected to instead of a DNS lookup; the
    # address policy still judges them. The URL, Host header, SNI and certificate name stay.
    resolve: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    # Called with (from, to) before a redirect is followed; a reason refuses it (a witness's
    # memento must not lead out of its archive to the live web).
    redirect_guard: Callable[[str, str], str | None] | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (a TimeGate's Accept-Datetime)


@dataclass
class FetchResult:
    hops: list[Hop]
    final_url: str
    status: int
    body: bytes
    declared_type: str | None
    charset: str | None
    media_type: str
    fetched_at: str
    proxy_used: bool
    tool: str
    # How the end of the body was known: "checked" (Content-Length or chunked framing) or
    # "unchecked" (close-delimited: a cut connection looks exactly like the end), with the reason.
    completeness: str = "checked"
    completeness_note: str | None = None


# --------------------------------------------------------------------------
# The fetch
# --------------------------------------------------------------------------


def _short(url: str, n: int = 100) -> str:
    return url if len(url) <= n else url[:n] + "..."


def _allow_private(config: FetchConfig) -> bool:
    env = os.environ.get("KHRONIKA_ALLOW_PRIVATE", "").strip().lower()
    return config.allow_private or env in ("1", "true", "yes")


def _normalize_proxy(proxy: str | None) -> str | None:
    if not proxy:
        return None
    scheme, sep, rest = proxy.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https", "socks5", "socks5h"):
        raise FetchFailed(
            "refused",
            f"unsupported proxy {mask_userinfo(proxy)!r}; use http://, https://, socks5:// or socks5h://",
        )
    if scheme == "socks5":  # never resolve names locally behind a proxy
        scheme = "socks5h"
    return f"{scheme}://{rest}"


def _check_url(url: str, limits: Limits) -> httpx.URL:
    if len(url) > limits.max_url_length:
        raise FetchFailed(
            "refused",
            f"URL is {len(url)} characters long, over {limits.max_url_length} "
            f"(limit --max-url-length): {_short(url)}",
        )
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        raise FetchFailed(
            "refused", f"unsupported URL scheme {scheme!r} (only http and https) at {_short(url)}"
        )
    try:
        parsed = httpx.URL(url)
        if parsed.userinfo:
            # httpx would send them as Authorization, which the hops, the WARC and the site keep.
            raise FetchFailed("refused", f"URL carries credentials (user:password@): {_short(mask_userinfo(url))}")
        if not parsed.host:
            raise FetchFailed("refused", f"URL has no host: {_short(url)}")
        return parsed.copy_with(fragment=None)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchFailed("refused", f"invalid URL ({exc}): {_short(url)}") from None


def fetch(url: str, config: FetchConfig | None = None) -> FetchResult:
    """Fetch `url`, following redirects, and return every hop and the decoded body.

    Raises FetchFailed(outcome, reason, hops) with outcome gone (404/410),
    unreachable (network, TLS, timeouts, 5xx), refused (policy and limits)
    or failed (other 4xx and unexpected statuses).
    """
    config = config or FetchConfig()
    limits = config.limits
    allow_private = _allow_private(config)
    deadline = Deadline(limits.total_timeout)
    fetched_at = now()
    hops: list[Hop] = []
    proxy = _normalize_proxy(config.proxy)

    current = _check_url(url, limits)
    if proxy is not None and config.resolve:
        # The proxy resolves names; a local mapping would silently not apply.
        raise FetchFailed("refused", f"--resolve cannot be used with a proxy (names are resolved by the proxy) at {_short(url)}")
    backend = GuardedBackend(allow_private, deadline, guard=proxy is None, pins=config.resolve)
    verify: ssl.SSLContext | bool = True
    if config.ca_file:
        verify = ssl.create_default_context(cafile=certifi.where())
        verify.load_verify_locations(cafile=config.ca_file)
    transport = httpx.HTTPTransport(proxy=proxy, trust_env=False, retries=0, verify=verify)
    install_backend(transport, backend)
    client = httpx.Client(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.connect_timeout,
        ),
        headers={
            "User-Agent": config.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": ACCEPT_ENCODING,
            **config.headers,
        },
    )
    seen: dict[str, int] = {}
    try:
        with client:
            while True:
                where = str(current)
                if where in seen:
                    raise FetchFailed(
                        "refused",
                        f"redirect loop: {where} was already fetched at hop {seen[where]}",
                        hops,
                    )
                seen[where] = len(hops) + 1
                if proxy is not None and is_ip_literal(current.host):
                    reason = check_address(current.host, allow_private)
                    if reason is not None:
                        raise FetchFailed("refused", f"{reason} at {where}", hops)

                hop, body_raw = exchange(client, transport, current, limits, deadline, proxy is not None, hops)
                hops.append(hop)
                status = hop.status

                if 300 <= status < 400 and status not in (304,):
                    location = header(hop.response_headers, "location")
                    if location is None:
                        raise FetchFailed(
                            "failed", f"HTTP {status} {hop.reason} without Location at {where}", hops
                        )
                    if len(hops) > limits.max_redirects:
                        raise FetchFailed(
                            "refused",
                            f"more than {limits.max_redirects} redirects "
                            f"(limit --max-redirects); last redirect at {where}",
                            hops,
                        )
                    target = _redirect_target(current, location, where, hops)
                    refused = config.redirect_guard(where, target) if config.redirect_guard else None
                    if refused:
                        raise FetchFailed("refused", f"{refused} (from {where})", hops)
                    try:
                        current = _check_url(target, limits)
                    except FetchFailed as exc:
                        raise FetchFailed(exc.outcome, f"redirect from {where}: {exc.reason}", hops) from None
                    continue
                if 200 <= status < 300:
                    check_complete_status(hop, where, hops)
                    assert body_raw is not None
                    body = decode_body(
                        body_raw, content_encodings(hop.response_headers), limits.max_decoded, where
                    )
                    declared, charset = parse_content_type(hop.response_headers)
                    return FetchResult(
                        hops=hops,
                        final_url=where,
                        status=status,
                        body=body,
                        declared_type=declared,
                        charset=charset,
                        media_type=sniff_media_type(body, declared),
                        fetched_at=fetched_at,
                        proxy_used=proxy is not None,
                        tool=TOOL,
                        **completeness(hop),
                    )
                text = f"HTTP {status} {hop.reason}".rstrip() + f" at {where}"
                if status in (404, 410):
                    raise FetchFailed("gone", text, hops)
                if status >= 500:
                    raise FetchFailed("unreachable", text, hops)
                raise FetchFailed("failed", text, hops)
    except FetchFailed as exc:
        if exc.hops is not hops:
            exc.hops = hops
        exc.reason = _without_secret(exc.reason, config.proxy)
        raise
    except Exception as exc:  # noqa: BLE001 - one source's surprise must not end the batch
        reason = _without_secret(f"unexpected {type(exc).__name__} ({exc}) while fetching {url}", config.proxy)
        raise FetchFailed("failed", reason, hops) from exc


def _without_secret(reason: str, proxy: str | None) -> str:
    """`reason` without the proxy's credentials, should a library message have quoted its URL."""
    if proxy and "@" in proxy:
        userinfo = proxy.partition("://")[2].rpartition("@")[0]
        password = userinfo.partition(":")[2] or userinfo
        if password:
            reason = reason.replace(proxy, mask_userinfo(proxy)).replace(password, "***")
    return reason


def _redirect_target(current: httpx.URL, location: str, where: str, hops: list[Hop]) -> str:
    """The absolute URL a Location names, refused unless it is an http(s) URL with a host."""
    try:
        target = current.join(location.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchFailed(
            "refused", f"invalid redirect Location {_short(location)!r} ({exc}) at {where}", hops
        ) from None
    if target.scheme not in ("http", "https"):
        raise FetchFailed("refused", f"redirect to a non-http(s) URL: {_short(location.strip())} (from {where})", hops)
    return str(target)
