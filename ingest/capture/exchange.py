"""One HTTP exchange of a fetch: send a request, read the response under the limits, judge its framing."""

from __future__ import annotations

import base64
import hashlib
import typing
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from ingest.capture.hops import Hop, redact
from ingest.capture.backend import Deadline
from ingest.capture.policy import AddressRefused, ResolveFailed
from ingest.errors import FetchFailed

# Bodies of redirects and error responses are evidence too, but they are not
# the capture: read them up to this size, drop them (b"") if larger.
SIDE_BODY_CAP = 1 * 2**20


@dataclass
class Limits:
    max_body: int = 64 * 2**20  # bytes on the wire, enforced while streaming
    max_decoded: int = 256 * 2**20  # after Content-Encoding removal
    connect_timeout: float = 15.0
    read_timeout: float = 30.0  # between bytes
    total_timeout: float = 120.0  # whole fetch including redirects
    max_redirects: int = 10
    max_url_length: int = 8192


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


# 2xx statuses whose body is the resource itself; 206 is a slice of it, 204/205 carry none,
# and 201/202/207/208/226 describe an operation or a delta rather than the page.
_COMPLETE_2XX = (200, 203)


def check_complete_status(hop: Hop, where: str, hops: list[Hop]) -> None:
    status = hop.status
    if status in _COMPLETE_2XX:
        return
    text = f"HTTP {status} {hop.reason}".rstrip()
    if status == 206:
        span = header(hop.response_headers, "content-range") or "no Content-Range"
        raise FetchFailed("refused", f"{text} (Content-Range: {span}): only part of the body was sent, "
                                     f"never recorded as the page, at {where}", hops)
    if status in (204, 205):
        raise FetchFailed("failed", f"{text}: the server sent no content at {where}", hops)
    raise FetchFailed("failed", f"{text} is not the page itself (only 200 and 203 are captured) at {where}", hops)


def completeness(hop: Hop) -> dict[str, str]:
    """Whether the framing let us know the body ended where the server meant it to end."""
    length = header(hop.response_headers, "content-length")
    coding = (header(hop.response_headers, "transfer-encoding") or "").lower()
    if "chunked" in coding:
        return {"completeness": "checked", "completeness_note": "chunked: the last chunk was received"}
    if length is not None:
        return {"completeness": "checked",
                "completeness_note": f"Content-Length: {len(hop.body_raw)} bytes received as announced"}
    return {"completeness": "unchecked",
            "completeness_note": "close-delimited body (no Content-Length, not chunked): a connection cut "
                                 "short cannot be told from the end of the page"}


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None




def exchange(
    client: httpx.Client,
    transport: httpx.BaseTransport,
    url: httpx.URL,
    limits: Limits,
    deadline: Deadline,
    via_proxy: bool,
    hops: list[Hop],
) -> tuple[Hop, bytes | None]:
    """One request/response. Returns the hop and, for 2xx, the complete raw body."""
    where = str(url)
    request = client.build_request("GET", url)
    started_at = now()
    try:
        # The transport directly, not client.send: the client builds the next request from any
        # Location header itself (even with redirects off) and raises on one like `mailto:x`
        # before we see the response. Redirects are ours (above); cookies are kept across hops.
        response = transport.handle_request(request)
        response.request = request
        client.cookies.extract_cookies(response)
    except AddressRefused as exc:
        raise FetchFailed("refused", f"{exc} at {where}", hops) from None
    except ResolveFailed as exc:
        raise FetchFailed("unreachable", f"{exc} at {where}", hops) from None
    except httpx.HTTPError as exc:
        raise _transport_failure(exc, where, limits, deadline) from None
    except (httpx.InvalidURL, httpx.CookieConflict, ValueError) as exc:  # not HTTPError subclasses
        raise FetchFailed("refused", f"request refused by the HTTP client ({exc}) at {where}", hops) from None
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
            request_headers=redact(_h(request.headers.raw)),
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
