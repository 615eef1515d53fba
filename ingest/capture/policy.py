"""Address policy: which addresses a capture may connect to (the standard library only).

The name is resolved once, every candidate address is checked, and the connection is made to
a checked address (`capture/backend` for HTTP capture, `capture/recorder` inside the browser's
recording proxy), so there is no window between check and connect (DNS rebinding). A
`--resolve HOST:PORT:ADDRESS` mapping (curl's meaning) replaces the lookup for that host and
port, never the check. This module imports nothing outside the standard library because the
recording proxy runs it in a virtual environment of its own (see `capture/proxy`).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import typing

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
