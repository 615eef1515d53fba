"""Fetching one URL safely and recording every HTTP exchange of that fetch.

This module owns the fetch loop of a capture: URL checks, manual redirect
handling, size and time limits enforced while streaming. Address policy and the
guarded network backend are in `policy`, Content-Encoding removal under a
decoded-size limit in `decode`, media-type sniffing in `media`.
It returns the exchanges (hops) exactly as they happened so that a WARC writer
can record them; it never returns a truncated body -- any limit raises
FetchFailed instead.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone

import certifi
import httpx

from ingest import __version__
from ingest.capture.decode import content_encodings, decode_body, parse_content_type
from ingest.capture.media import sniff_media_type
from ingest.capture.policy import (
    AddressRefused,
    Deadline,
    GuardedBackend,
    ResolveFailed,
    check_address,
    install_backend,
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
]

TOOL = f"khronika/{__version__} httpx/{httpx.__version__}"

# Bodies of redirects and error responses are evidence too, but they are not
# the capture: read them up to this size, drop them (b"") if larger.
SIDE_BODY_CAP = 1 * 2**20

ACCEPT_ENCODING = "gzip, deflate, br"


# --------------------------------------------------------------------------
# Configuration and results
# --------------------------------------------------------------------------


@dataclass
class Limits:
    max_body: int = 64 * 2**20  # bytes on the wire, enforced while streaming
    max_decoded: int = 256 * 2**20  # after Content-Encoding removal
    connect_timeout: float = 15.0
    read_timeout: float = 30.0  # between bytes
    total_timeout: float = 120.0  # whole fetch including redirects
    max_redirects: int = 10
    max_url_length: int = 8192


@dataclass
class FetchConfig:
    limits: Limits = field(default_factory=Limits)
    user_agent: str = f"Khronika/{__version__} (+archive)"
    proxy: str | None = None  # http://, https://, socks5://, socks5h://
    allow_private: bool = False  # or env KHRONIKA_ALLOW_PRIVATE=1
    ca_file: str | None = None  # extra trust anchors (PEM), added to the certifi bundle


@dataclass
class Hop:
    """One HTTP exchange, enough to write WARC request and response records."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    http_version: str
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    body_raw: bytes
    ip: str | None
    port: int | None
    tls: dict | None
    started_at: str


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


# --------------------------------------------------------------------------
# The fetch
# --------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
            "refused", f"unsupported proxy {proxy!r}; use http://, https://, socks5:// or socks5h://"
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
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchFailed("refused", f"invalid URL ({exc}): {_short(url)}") from None
    if not parsed.host:
        raise FetchFailed("refused", f"URL has no host: {_short(url)}")
    return parsed.copy_with(fragment=None)


def _tls_info(stream: typing.Any) -> dict | None:
    obj = stream.get_extra_info("ssl_object") if stream is not None else None
    if obj is None:
        return None
    info: dict[str, typing.Any] = {"version": obj.version(), "cipher": None}
    cipher = obj.cipher()
    if cipher:
        info["cipher"] = cipher[0]
    der = obj.getpeercert(True)
    if der:
        info["cert_sha256"] = hashlib.sha256(der).hexdigest()
        info["cert_der_b64"] = base64.b64encode(der).decode("ascii")
    cert = obj.getpeercert(False) or {}

    def name(rdns: typing.Any) -> str | None:
        if not rdns:
            return None
        return ",".join(f"{k}={v}" for rdn in rdns for k, v in rdn)

    info["subject"] = name(cert.get("subject"))
    info["issuer"] = name(cert.get("issuer"))
    info["not_after"] = cert.get("notAfter")
    return info


def _h(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]


class _BodyTooBig(Exception):
    pass


def _read_raw(response: httpx.Response, cap: int, deadline: Deadline) -> bytes:
    """Read the payload as received (de-chunked, still content-encoded); never past `cap`."""
    buf = bytearray()
    for chunk in response.iter_raw(64 * 1024):
        buf += chunk
        if len(buf) > cap:
            raise _BodyTooBig
        if deadline.passed():
            raise httpx.ReadTimeout("total timeout")
    return bytes(buf)


def _transport_failure(exc: Exception, url: str, limits: Limits, deadline: Deadline) -> FetchFailed:
    if isinstance(exc, httpx.TimeoutException) and (deadline.passed() or "total timeout" in str(exc)):
        return FetchFailed(
            "unreachable",
            f"fetch took longer than {limits.total_timeout:g} s (limit --total-timeout) at {url}",
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchFailed(
            "unreachable",
            f"connect timed out after {limits.connect_timeout:g} s (limit --connect-timeout) at {url}",
        )
    if isinstance(exc, httpx.ReadTimeout):
        return FetchFailed(
            "unreachable",
            f"no data for {limits.read_timeout:g} s (limit --read-timeout) at {url}",
        )
    if isinstance(exc, httpx.TimeoutException):
        return FetchFailed("unreachable", f"timed out ({type(exc).__name__}) at {url}")
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and ("SSL" in text or "certificate" in text.lower()):
        return FetchFailed("unreachable", f"TLS error ({text}) at {url}")
    if isinstance(exc, httpx.ConnectError):
        return FetchFailed("unreachable", f"connection failed ({text}) at {url}")
    if isinstance(exc, httpx.ProxyError):
        return FetchFailed("unreachable", f"proxy failed ({text}) at {url}")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return FetchFailed("unreachable", f"transfer broken ({text}) at {url}")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return FetchFailed("refused", f"invalid URL ({text}) at {url}")
    return FetchFailed("unreachable", f"{type(exc).__name__} ({text}) at {url}")


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
    fetched_at = _now()
    hops: list[Hop] = []
    proxy = _normalize_proxy(config.proxy)

    current = _check_url(url, limits)
    backend = GuardedBackend(allow_private, deadline, guard=proxy is None)
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

                hop, body_raw = _exchange(client, current, limits, deadline, proxy is not None, hops)
                hops.append(hop)
                status = hop.status

                if 300 <= status < 400 and status not in (304,):
                    location = _header(hop.response_headers, "location")
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
                    try:
                        target = str(current.join(location.strip()))
                    except (httpx.InvalidURL, ValueError) as exc:
                        raise FetchFailed(
                            "refused", f"invalid redirect Location {location!r} ({exc}) at {where}", hops
                        ) from None
                    try:
                        current = _check_url(target, limits)
                    except FetchFailed as exc:
                        raise FetchFailed(exc.outcome, f"redirect from {where}: {exc.reason}", hops) from None
                    continue
                if 200 <= status < 300:
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
        raise


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _exchange(
    client: httpx.Client,
    url: httpx.URL,
    limits: Limits,
    deadline: Deadline,
    via_proxy: bool,
    hops: list[Hop],
) -> tuple[Hop, bytes | None]:
    """One request/response. Returns the hop and, for 2xx, the complete raw body."""
    where = str(url)
    request = client.build_request("GET", url)
    started_at = _now()
    try:
        response = client.send(request, stream=True)
    except AddressRefused as exc:
        raise FetchFailed("refused", f"{exc} at {where}", hops) from None
    except ResolveFailed as exc:
        raise FetchFailed("unreachable", f"{exc} at {where}", hops) from None
    except httpx.HTTPError as exc:
        raise _transport_failure(exc, where, limits, deadline) from None
    try:
        # Ask the connection before reading: it may close at end of body.
        stream = response.extensions.get("network_stream")
        ip = port = None
        if not via_proxy and stream is not None:
            peer = stream.get_extra_info("server_addr")
            if peer:
                ip, port = str(peer[0]), int(peer[1])
        tls = _tls_info(stream) if url.scheme == "https" else None
        final = 200 <= response.status_code < 300
        cap = limits.max_body if final else min(limits.max_body, SIDE_BODY_CAP)
        try:
            body_raw: bytes | None = _read_raw(response, cap, deadline)
        except _BodyTooBig:
            if final:
                raise FetchFailed(
                    "refused", f"body exceeds {limits.max_body} bytes (limit --max-body) at {where}", hops
                ) from None
            body_raw = None  # side body too large: recorded as not read
        except httpx.HTTPError as exc:
            raise _transport_failure(exc, where, limits, deadline) from None

        hop = Hop(
            url=where,
            method=request.method,
            request_headers=_h(request.headers.raw),
            http_version=response.http_version,
            status=response.status_code,
            reason=response.reason_phrase,
            response_headers=_h(response.headers.raw),
            body_raw=body_raw or b"",
            ip=ip,
            port=port,
            tls=tls,
            started_at=started_at,
        )
        return hop, body_raw if final else None
    finally:
        response.close()
