"""Ed25519 checkpoints: the archive's signing key, and signing or checking a signed statement.

The key is created on first use as ARCHIVE/keys/ed25519.key (PKCS#8 PEM, mode 0600) and never
leaves the archive. A signed document carries its public key, so a signature alone only shows
that *some* key signed it; trust comes from comparing the key's fingerprint (SHA-256 of the raw
32-byte public key, hex) with one published elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ingest.store.log import canonical

KEY_PATH = Path("keys") / "ed25519.key"
UNSIGNED_FIELDS = ("signature",)


def key_path(archive_root: Path) -> Path:
    return archive_root / KEY_PATH


def load_or_create_key(archive_root: Path) -> Ed25519PrivateKey:
    path = key_path(archive_root)
    if path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


def signed_bytes(doc: dict[str, Any]) -> bytes:
    """What the signature covers: the document's canonical JSON (RFC 8785) without the signature."""
    return canonical({k: v for k, v in doc.items() if k not in UNSIGNED_FIELDS})


def sign(statement: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The statement plus public_key, key_fingerprint and signature (all base64 or hex)."""
    public = raw_public(key.public_key())
    doc = dict(statement)
    doc["public_key"] = base64.b64encode(public).decode("ascii")
    doc["key_fingerprint"] = fingerprint(public)
    doc["signature"] = base64.b64encode(key.sign(signed_bytes(doc))).decode("ascii")
    return doc


def check(doc: dict[str, Any]) -> str | None:
    """None when the signature is valid for the document's own public key, else the reason."""
    try:
        public = base64.b64decode(doc["public_key"], validate=True)
        signature = base64.b64decode(doc["signature"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(public)
    except (KeyError, TypeError, ValueError) as exc:
        return f"public key or signature unreadable ({exc.__class__.__name__})"
    if doc.get("key_fingerprint") != fingerprint(public):
        return "key_fingerprint is not the SHA-256 of the public key"
    try:
        key.verify(signature, signed_bytes(doc))
    except InvalidSignature:
        return "the signature does not match the signed content (signature file or what it covers altered)"
    return None
