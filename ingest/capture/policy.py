"""Address policy and the guarded network backend: which addresses a capture may connect to.

The name is resolved once, every candidate address is checked, and the connection is
made to a checked address, so there is no window between check and connect (DNS
rebinding). A `--resolve HOST:PORT:ADDRESS` mapping (curl's meaning) replaces the lookup for
that host and port, never the check. With a proxy the proxy resolves names; nothing is resolved locally. The
backend also holds every read, write and handshake to the fetch's total deadline.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import typing

import httpcore
import httpx

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
        literal = is_ip_literal(host)
        raise AddressRefused(refusals[0] if literal else f"{refusals[0]} (resolved from {host})")
    raise ResolveFailed(f"DNS lookup for {host} returned no usable address")


Pins = typing.Mapping[tuple[str, int], tuple[str, ...]]


def parse_resolve(entry: str) -> tuple[tuple[str, int], tuple[str, ...]]:
    """One `HOST:PORT:ADDRESS[,ADDRESS...]` (curl's --resolve) as ((host, port), addresses).

    The addresses must be IP literals (IPv6 in brackets or bare); a name would need a lookup
    the mapping is meant to replace. Raises ValueError with what is wrong.
    """
    host, sep, rest = entry.partition(":")
    port_text, sep2, addresses = rest.partition(":")
    if not sep or not sep2 or not host or not addresses:
        raise ValueError(f"{entry!r} is not HOST:PORT:ADDRESS")
    if host == "*" or host.startswith("+") or host.startswith("-"):
        raise ValueError(f"{entry!r}: wildcard, '+' and '-' entries are not supported; name the host")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{entry!r}: port {port_text!r} is not a number from 1 to 65535")
    found: list[str] = []
    for address in addresses.split(","):
        bare = address.strip()
        if bare.startswith("[") and bare.endswith("]"):
            bare = bare[1:-1]
        if not is_ip_literal(bare):
            raise ValueError(f"{entry!r}: {address!r} is not an IP address")
        found.append(str(ipaddress.ip_address(bare.split("%", 1)[0])))
    return (host.lower().strip("[]"), int(port_text)), tuple(found)


def pinned_allowed(host: str, port: int, addresses: tuple[str, ...], allow_private: bool) -> list[str]:
    """The addresses a --resolve mapping names for host:port that policy allows; the mapping
    replaces the lookup, never the policy, so loopback still needs --allow-private."""
    allowed, refusals = [], []
    for ip in addresses:
        reason = check_address(ip, allow_private)
        (allowed if reason is None else refusals).append(reason or ip)
    if allowed:
        return allowed
    raise AddressRefused(f"{refusals[0]} (mapped from {host}:{port} by --resolve)")


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------
# Network backend: address check at connect time, total deadline on every I/O
# --------------------------------------------------------------------------


class Deadline:
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

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
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
        deadline: Deadline,
        guard: bool = True,
        resolver: Resolver = socket.getaddrinfo,
        pins: Pins | None = None,
    ) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private
        self._deadline = deadline
        self._guard = guard
        self._resolver = resolver
        self._pins = dict(pins or {})

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
        pinned = self._pins.get((host.lower().strip("[]"), port))
        if pinned is not None:
            candidates = pinned_allowed(host, port, pinned, self._allow_private)
        else:
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


def install_backend(transport: httpx.HTTPTransport, backend: httpcore.NetworkBackend) -> None:
    # httpx builds its httpcore pool (ConnectionPool, HTTPProxy or SOCKSProxy)
    # without a backend argument; all three create connections lazily from
    # `_network_backend`, so replacing it before the first request is enough.
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # pragma: no cover - httpx changed
        raise RuntimeError("cannot install the guarded network backend on this httpx version")
    pool._network_backend = backend
