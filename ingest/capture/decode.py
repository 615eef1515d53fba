"""Content-Encoding removal under a decoded-size limit, and Content-Type parsing.

The decoders are written here rather than taken from httpx because each must stop at
a size limit while inflating (a decompression bomb never reaches memory whole).
"""

from __future__ import annotations

import typing
import zlib

import brotli

from ingest.errors import FetchFailed

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
