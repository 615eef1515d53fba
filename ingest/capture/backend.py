"""The guarded network backend of HTTP capture: connect only to addresses the policy allows, within the deadline.

The name is resolved once (`policy.resolve_allowed`, or a `--resolve` mapping through
`policy.pinned_allowed`), and the connection is made to a checked address; with a proxy the proxy
resolves names and nothing is resolved locally. The backend also holds every read, write and
handshake to the fetch's total deadline.
"""

from __future__ import annotations

import socket
import ssl
import time
import typing

import httpcore
import httpx

from ingest.capture.policy import AddressRefused, Pins, Resolver, check_address, pinned_allowed, resolve_allowed

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
