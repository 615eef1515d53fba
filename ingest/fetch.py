"""Fetching one URL safely and recording every HTTP exchange of that fetch.

This module owns the network side of a capture: URL and address policy,
manual redirect handling, size and time limits enforced while streaming,
Content-Encoding removal under a decoded-size limit, and media-type sniffing.
It returns the exchanges (hops) exactly as they happened so that a WARC writer
can record them; it never returns a truncated body -- any limit raises
FetchFailed instead.

Address policy is enforced inside a custom httpcore network backend: the name
is resolved once, every candidate address is checked, and the connection is
made to a checked address, so there is no window between check and connect
(DNS rebinding). With a proxy the proxy resolves names; nothing is resolved
locally.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import socket
import ssl
import threading
import time
import typing
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

import brotli
import certifi
import httpcore
import httpx

from ingest import __version__
from ingest.errors import FetchFailed
from ingest.media import sniff_media_type

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
# Address policy
# --------------------------------------------------------------------------

_ALLOW_HINT = "use --allow-private to fetch from local and private networks"

# Instance metadata services: AWS/GCP/Azure/OpenStack/DigitalOcean,
# AWS ECS task metadata, AWS IMDS over IPv6, Alibaba Cloud, Oracle Cloud.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
    )
)

_N = ipaddress.ip_network
_LINK_LOCAL = (_N("169.254.0.0/16"), _N("fe80::/10"))
_UNSPECIFIED = (_N("0.0.0.0/8"), _N("::/128"))
_MULTICAST = (_N("224.0.0.0/4"), _N("ff00::/8"))
_LOOPBACK = (_N("127.0.0.0/8"), _N("::1/128"))
_PRIVATE = (
    _N("10.0.0.0/8"),
    _N("172.16.0.0/12"),
    _N("192.168.0.0/16"),
    _N("fc00::/7"),
)
_SHARED = (_N("100.64.0.0/10"),)  # carrier-grade NAT
_RESERVED = (
    _N("192.0.0.0/24"),  # IETF protocol assignments
    _N("192.0.2.0/24"),  # documentation
    _N("198.18.0.0/15"),  # benchmarking
    _N("198.51.100.0/24"),
    _N("203.0.113.0/24"),
    _N("240.0.0.0/4"),  # includes 255.255.255.255
    _N("::/96"),  # deprecated IPv4-compatible
    _N("100::/64"),  # discard
    _N("2001:db8::/32"),  # documentation
    _N("fec0::/10"),  # deprecated site-local
)
_NAT64 = _N("64:ff9b::/96")


def _in(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple) -> bool:
    return any(addr.version == n.version and addr in n for n in nets)


def _classify(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[str, bool] | None:
    """Return (category, refused even with allow_private) or None if public."""
    if addr in _METADATA:
        return "cloud metadata", True
    if _in(addr, _LINK_LOCAL):
        return "link-local", True
    if _in(addr, _UNSPECIFIED):
        return "unspecified", True
    if _in(addr, _MULTICAST):
        return "multicast", True
    if _in(addr, _LOOPBACK):
        return "loopback", False
    if _in(addr, _PRIVATE):
        return "private", False
    if _in(addr, _SHARED):
        return "shared (CGNAT)", False
    if _in(addr, _RESERVED) or not addr.is_global:
        return "reserved", True
    return None


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to (mapped, NAT64, 6to4, compatible)."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return addr.sixtofour
    if int(addr) >> 32 == 0 and int(addr) > 1:  # deprecated ::a.b.c.d
        return ipaddress.IPv4Address(int(addr))
    return None


def check_address(ip: str, allow_private: bool) -> str | None:
    """Return None if connecting to `ip` is allowed, else the reason it is refused.

    Cloud metadata, link-local, unspecified, multicast and reserved addresses
    are always refused. Loopback, private and shared (CGNAT) addresses are
    refused unless `allow_private`. IPv6 addresses that embed an IPv4 address
    (mapped, NAT64, 6to4) are judged by the IPv4 address as well.
    """
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"not an IP address: {ip!r} refused"
    note = ""
    v4 = _embedded_ipv4(addr) if addr.version == 6 else None
    if v4 is not None:
        found = _classify(v4)
        if found is not None:
            note = f" (IPv4 {v4})"
        elif addr.ipv4_mapped is None:  # NAT64 / 6to4 prefixes: judge the IPv6 too
            found = _classify(addr)
    else:
        found = _classify(addr)
    if found is None:
        return None
    category, always = found
    if always:
        return f"{category} address {ip}{note} refused"
    if allow_private:
        return None
    return f"{category} address {ip}{note} refused; {_ALLOW_HINT}"


class AddressRefused(Exception):
    """Policy refused every address of a host (raised inside the backend)."""


class ResolveFailed(Exception):
    """The name could not be resolved (raised inside the backend)."""


Resolver = typing.Callable[..., list]


def _getaddrinfo_with_timeout(
    resolver: Resolver, host: str, port: int, timeout: float | None
) -> list:
    box: dict[str, typing.Any] = {}

    def run() -> None:
        try:
            box["ok"] = resolver(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed to the caller
            box["err"] = exc

    t = threading.Thread(target=run, name="khronika-resolve", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise ResolveFailed(f"DNS lookup for {host} timed out after {timeout:.1f} s")
    if "err" in box:
        raise ResolveFailed(f"DNS lookup failed for {host}: {box['err']}")
    return box["ok"]


def resolve_allowed(
    host: str,
    port: int,
    allow_private: bool,
    timeout: float | None = None,
    resolver: Resolver = socket.getaddrinfo,
) -> list[str]:
    """Resolve `host` and return the addresses policy allows, in resolver order.

    Raises AddressRefused naming the first refused address when none is
    allowed, ResolveFailed when the name does not resolve.
    """
    infos = _getaddrinfo_with_timeout(resolver, host, port, timeout)
    allowed: list[str] = []
    refusals: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = sockaddr[0]
        reason = check_address(ip, allow_private)
        if reason is None:
            if ip not in allowed:
                allowed.append(ip)
        else:
            refusals.append(reason)
    if allowed:
        return allowed
    if refusals:
        literal = _is_ip_literal(host)
        raise AddressRefused(refusals[0] if literal else f"{refusals[0]} (resolved from {host})")
    raise ResolveFailed(f"DNS lookup for {host} returned no usable address")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------
# Network backend: address check at connect time, total deadline on every I/O
# --------------------------------------------------------------------------


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def bound(self, timeout: float | None) -> float:
        # Never 0: a socket timeout of 0 means non-blocking, not "expired".
        left = max(self.remaining(), 0.001)
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """Wraps a stream so no read, write or handshake outlives the fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._deadline.passed():
            raise httpcore.ReadTimeout("total timeout")
        return self._inner.read(max_bytes, self._deadline.bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._deadline.passed():
            raise httpcore.WriteTimeout("total timeout")
        self._inner.write(buffer, self._deadline.bound(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        if self._deadline.passed():
            raise httpcore.ConnectTimeout("total timeout")
        inner = self._inner.start_tls(ssl_context, server_hostname, self._deadline.bound(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore backend that resolves, checks and connects to a checked address.

    With `guard=False` (proxy connections) the configured proxy is connected
    to as given; only the deadline applies.
    """

    def __init__(
        self,
        allow_private: bool,
        deadline: _Deadline,
        guard: bool = True,
        resolver: Resolver = socket.getaddrinfo,
    ) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private
        self._deadline = deadline
        self._guard = guard
        self._resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self._deadline.passed():
            raise httpcore.ConnectTimeout("total timeout")
        if not self._guard:
            stream = self._inner.connect_tcp(
                host, port, self._deadline.bound(timeout), local_address, socket_options
            )
            return _DeadlineStream(stream, self._deadline)
        candidates = resolve_allowed(
            host, port, self._allow_private, self._deadline.bound(timeout), self._resolver
        )
        last: Exception | None = None
        for ip in candidates:
            if self._deadline.passed():
                raise httpcore.ConnectTimeout("total timeout")
            try:
                stream = self._inner.connect_tcp(
                    ip, port, self._deadline.bound(timeout), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            peer = stream.get_extra_info("server_addr")
            reason = check_address(str(peer[0]), self._allow_private) if peer else "no peer address"
            if reason is not None:  # belt and braces: judge what we actually reached
                stream.close()
                raise AddressRefused(reason)
            return _DeadlineStream(stream, self._deadline)
        assert last is not None
        raise last

    def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> httpcore.NetworkStream:
        raise AddressRefused("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _install_backend(transport: httpx.HTTPTransport, backend: httpcore.NetworkBackend) -> None:
    # httpx builds its httpcore pool (ConnectionPool, HTTPProxy or SOCKSProxy)
    # without a backend argument; all three create connections lazily from
    # `_network_backend`, so replacing it before the first request is enough.
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # pragma: no cover - httpx changed
        raise RuntimeError("cannot install the guarded network backend on this httpx version")
    pool._network_backend = backend


# --------------------------------------------------------------------------
# Content-Encoding removal under a size limit
# --------------------------------------------------------------------------


class _TooBig(Exception):
    pass


class _Undecodable(Exception):
    pass


def _inflate(d: typing.Any, data: bytes, out: bytearray, limit: int) -> None:
    buf = data
    while True:
        room = limit - len(out) + 1
        chunk = d.decompress(buf, room)
        out += chunk
        if len(out) > limit:
            raise _TooBig
        buf = d.unconsumed_tail
        if d.eof:
            return
        if not buf and len(chunk) < room:
            return  # all input consumed, nothing pending


def _gunzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    rest = data
    members = 0
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            _inflate(d, rest, out, limit)
        except zlib.error as exc:
            raise _Undecodable(f"gzip member {members + 1}: {exc}") from None
        if not d.eof:
            raise _Undecodable(f"gzip member {members + 1} is incomplete")
        members += 1
        rest = d.unused_data
        if not rest or not rest.strip(b"\x00"):
            return bytes(out)  # done; NUL padding after the last member is tolerated
        if not rest.startswith(b"\x1f\x8b"):
            raise _Undecodable(f"{len(rest)} bytes of garbage after gzip member {members}")


def _inflate_deflate(data: bytes, limit: int) -> bytes:
    # "deflate" is meant to be zlib-wrapped, but raw deflate is common.
    zlib_wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
    d = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
    out = bytearray()
    try:
        _inflate(d, data, out, limit)
    except zlib.error as exc:
        raise _Undecodable(f"deflate: {exc}") from None
    if not d.eof:
        raise _Undecodable("deflate stream is incomplete")
    if d.unused_data:
        raise _Undecodable(f"{len(d.unused_data)} bytes of garbage after deflate stream")
    return bytes(out)


def _unbrotli(data: bytes, limit: int) -> bytes:
    d = brotli.Decompressor()
    out = bytearray()
    step = 64 * 1024
    try:
        for i in range(0, max(len(data), 1), step):
            piece = data[i : i + step]
            while True:
                out += d.process(piece, output_buffer_limit=limit - len(out) + 1)
                if len(out) > limit:
                    raise _TooBig
                piece = b""
                if d.can_accept_more_data():
                    break
            if d.is_finished() and i + step < len(data):
                raise _Undecodable("garbage after brotli stream")
    except brotli.error as exc:
        raise _Undecodable(f"br: {exc}") from None
    if not d.is_finished():
        raise _Undecodable("brotli stream is incomplete")
    return bytes(out)


_DECODERS: dict[str, typing.Callable[[bytes, int], bytes]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _inflate_deflate,
    "br": _unbrotli,
}


def content_encodings(headers: list[tuple[str, str]]) -> list[str]:
    """Content-Encoding values in the order they were applied (identity dropped)."""
    codings: list[str] = []
    for name, value in headers:
        if name.lower() == "content-encoding":
            codings += [c.strip().lower() for c in value.split(",") if c.strip()]
    return [c for c in codings if c != "identity"]


def decode_body(raw: bytes, codings: list[str], max_decoded: int, url: str) -> bytes:
    """Undo `codings` (last applied first); raise FetchFailed('refused') on any problem."""
    for coding in codings:
        if coding not in _DECODERS:
            raise FetchFailed("refused", f"unsupported Content-Encoding {coding!r} at {url}")
    data = raw
    for coding in reversed(codings):
        try:
            data = _DECODERS[coding](data, max_decoded)
        except _TooBig:
            raise FetchFailed(
                "refused",
                f"decoded body exceeds {max_decoded} bytes (limit --max-decoded) at {url}",
            ) from None
        except _Undecodable as exc:
            raise FetchFailed(
                "refused", f"{coding} body cannot be decoded completely ({exc}) at {url}"
            ) from None
    if len(data) > max_decoded:  # identity with a max_decoded below max_body
        raise FetchFailed(
            "refused", f"decoded body exceeds {max_decoded} bytes (limit --max-decoded) at {url}"
        )
    return data


def parse_content_type(headers: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """(media type lowercased without parameters, charset) from the last Content-Type."""
    values = [v for k, v in headers if k.lower() == "content-type"]
    if not values:
        return None, None
    parts = values[-1].split(";")
    media = parts[0].strip().lower()
    if "/" not in media:
        media = ""
    charset = None
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower() or None
    return media or None, charset


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


def _read_raw(response: httpx.Response, cap: int, deadline: _Deadline) -> bytes:
    """Read the payload as received (de-chunked, still content-encoded); never past `cap`."""
    buf = bytearray()
    for chunk in response.iter_raw(64 * 1024):
        buf += chunk
        if len(buf) > cap:
            raise _BodyTooBig
        if deadline.passed():
            raise httpx.ReadTimeout("total timeout")
    return bytes(buf)


def _transport_failure(exc: Exception, url: str, limits: Limits, deadline: _Deadline) -> FetchFailed:
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
    deadline = _Deadline(limits.total_timeout)
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
    _install_backend(transport, backend)
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
                if proxy is not None and _is_ip_literal(current.host):
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
    deadline: _Deadline,
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
