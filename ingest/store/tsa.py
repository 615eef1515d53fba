"""RFC 3161 tokens: build a request over a digest, ask a time-stamping authority, check a token against pins.

The token's message imprint is the SHA-256 digest itself (the log entry's hash), so anyone can
check it with `openssl ts -verify -digest HASH -in TOKEN -CAfile PIN`. Parsing and checking the
token (CMS signature, ESS signing certificate, EKU, nonce, imprint) is done by rfc3161-client;
only the request is encoded here, because that library's builder hashes the data it is given
and cannot take a ready digest.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from importlib.metadata import version

from typing import TYPE_CHECKING

from ingest.errors import KhronikaError

if TYPE_CHECKING:  # imported where used: a run that timestamps nothing does not pay for httpx and cryptography
    from cryptography import x509

MAX_TOKEN_BYTES = 1 * 2**20
SHA256_OID = b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01"


class TimestampError(KhronikaError):
    """A timestamp that could not be had or does not hold: the reason names what failed."""


def client_version() -> str:
    return f"rfc3161-client {version('rfc3161-client')}"


# -- the request (DER) -------------------------------------------------------------------------


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")  # a leading 0 keeps it positive
    return _der(0x02, body)


def build_request(digest: bytes, nonce: int | None = None) -> tuple[bytes, int]:
    """A TimeStampReq (RFC 3161 §2.4.1) over a SHA-256 digest, with a 64-bit nonce and certReq."""
    if len(digest) != 32:
        raise ValueError("a SHA-256 digest is 32 bytes")
    nonce = secrets.randbits(64) if nonce is None else nonce
    imprint = _der(0x30, _der(0x30, SHA256_OID + b"\x05\x00") + _der(0x04, digest))
    body = _integer(1) + imprint + _integer(nonce) + b"\x01\x01\xff"
    return _der(0x30, body), nonce


def ask(url: str, request: bytes, timeout: float = 30.0) -> bytes:
    """POST the request to a TSA; the response body, or TimestampError naming what went wrong."""
    import httpx

    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            with client.stream("POST", url, content=request,
                               headers={"Content-Type": "application/timestamp-query"}) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_TOKEN_BYTES:
                        raise TimestampError(f"TSA {url} answered more than {MAX_TOKEN_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise TimestampError(f"TSA {url} unreachable: {exc or type(exc).__name__}") from None
    if response.status_code != 200:
        raise TimestampError(f"TSA {url} answered HTTP {response.status_code}")
    return bytes(body)


# -- checking a token --------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """What a checked token says."""

    gen_time: str  # ISO 8601, UTC
    serial: str
    policy: str
    signer: str  # the signing certificate's subject
    chain_pem: bytes  # the certificates the token carries


def load_pins(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM file (one TSA certificate, or a trust anchor and its chain)."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certs = []
    if not certs:
        raise TimestampError("not a PEM certificate file (no readable -----BEGIN CERTIFICATE----- block)")
    return certs


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check(token: bytes, digest: bytes, pins: list[x509.Certificate], nonce: int | None = None) -> Token:
    """Check a TimeStampResp over `digest` against the pinned certificates; TimestampError if it fails.

    A pinned CA is a trust anchor: the signer must chain to it. A pinned leaf is the signer itself:
    the token's signing certificate must be exactly that certificate. Certificates the token
    carries are never trusted as anchors.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from rfc3161_client import (
        PKIStatus,
        VerificationError,
        VerifierBuilder,
        decode_timestamp_response,
    )

    try:
        response = decode_timestamp_response(token)
    except Exception as exc:  # the parser raises ValueError or its own errors for bad DER
        raise TimestampError(f"not a timestamp response (truncated or malformed: {exc})") from None
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        text = "; ".join(response.status_string) or "no reason given"
        raise TimestampError(f"TSA refused: status {PKIStatus(response.status).name} ({text})")
    carried = [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
    anchors = [c for c in pins if _is_ca(c)]
    leaves = [c for c in pins if not _is_ca(c)]
    builder = VerifierBuilder()
    if leaves:
        # The pinned leaf's own key must have signed; its issuer, carried by the token, is used
        # only to build the chain the CMS check wants.
        builder = builder.tsa_certificate(leaves[0])
        issuers = [c for c in carried if c.subject == leaves[0].issuer] or [leaves[0]]
        for cert in issuers:
            builder = builder.add_root_certificate(cert)
    for cert in anchors:
        builder = builder.add_root_certificate(cert)
    if nonce is not None:
        builder = builder.nonce(nonce)
    if response.tst_info.message_imprint.message != digest:
        raise TimestampError("the token covers another digest ("
                             f"{response.tst_info.message_imprint.message.hex()}, not {digest.hex()})")
    try:
        builder.build().verify(response, digest)
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"the token does not verify against the pinned certificate: {exc}") from None
    signer = _signer(response, carried) or (leaves[0] if leaves else None)
    gen = response.tst_info.gen_time
    return Token(
        gen_time=gen.strftime("%Y-%m-%dT%H:%M:%SZ"),
        serial=str(response.tst_info.serial_number),
        policy=response.tst_info.policy.dotted_string,
        signer=signer.subject.rfc4514_string() if signer is not None else "unknown",
        chain_pem=b"".join(c.public_bytes(Encoding.PEM) for c in carried),
    )


def _signer(response: object, carried: list[x509.Certificate]) -> x509.Certificate | None:
    infos = list(response.signed_data.signer_infos)  # type: ignore[attr-defined]
    if len(infos) != 1:
        return None
    for cert in carried:
        if cert.issuer == infos[0].issuer and cert.serial_number == infos[0].serial_number:
            return cert
    return None
