"""A hop (one HTTP exchange) as it is kept: in captures.hops, attempts.hops and the WARC.

A hop is recorded exactly as it happened, except the values of request headers that can carry a
secret of the operator's, which are replaced by `<redacted>` before anything keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.store.db import dumps


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
    request_body: bytes = b""  # as sent (a browser's POST); HTTP capture sends none


def hops_json(hops: list[Hop]) -> str | None:
    """The hops as the captures and attempts tables keep them (bodies are in the WARC)."""
    return dumps([
        {
            "url": h.url, "method": h.method, "status": h.status, "reason": h.reason,
            "http_version": h.http_version, "ip": h.ip, "port": h.port, "started_at": h.started_at,
            "request_headers": [list(x) for x in h.request_headers],
            "response_headers": [list(x) for x in h.response_headers],
        }
        for h in hops
    ]) if hops else None


# Request headers that can carry a secret of the operator's (credentials, a proxy's, a session):
# never written to hops, WARC request records or the log; the name stays, to say it was sent.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
REDACTED = "<redacted>"


def redact(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers]


_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#@:]*)(?P<colon>:?)[^/?#]*@")


def mask_userinfo(url: str) -> str:
    """`url` with its password (or a user name given alone: often a token) shown as ***."""
    def masked(m: re.Match[str]) -> str:
        return f"{m['head']}{m['user'] + ':***' if m['colon'] else '***'}@"
    return _USERINFO.sub(masked, url, count=1)
